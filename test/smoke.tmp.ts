import { readFileSync, readdirSync } from 'node:fs';
import { normalizeWebhook } from '../src/normalizer/normalize';
import { AvroCodec } from '../src/shared/avro';
const codec = new AvroCodec<any>('mist-event.avsc');
const dir = '/work/main/test/fixtures/samples';
for (const f of readdirSync(dir).filter(f => f.endsWith('.json'))) {
  const r = normalizeWebhook(readFileSync(`${dir}/${f}`), 1700000000000, { map: {}, overrides: {} });
  if ('error' in r) { console.log(f, r.error); continue; }
  for (const x of r.results) {
    if (!x.ok) { console.log(f, 'FAIL', x.reason); continue; }
    const e = x.event; const p = codec.problems(e);
    console.log(f.padEnd(58), e.timestamp, e.time_source.padEnd(12), e.severity.padEnd(13), e.category.padEnd(14), e.device_mac, e.device_type, e.state, p.length ? 'AVRO:' + p : '', '|', e.message);
  }
}
