import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';
import { incidentCodec } from '../../../src/domain/incident';
import { eventCodec } from '../../../src/domain/mist-event';
import { AvroCodec, historyFingerprints, useSchemaHistory } from '../../../src/shared/avro';
import { nextIncidentSchema, sampleIncident } from '../../helpers/schemas';

/** The writer schemas 0.1 and 0.2 released (their parsing canonical forms are the same). */
const RELEASED = {
  incident: '587b63079e23051b37629877ffa2cad0b3d726af6b5c414e2ca9cb05ee1bca22',
  event: '34c420065648fa344408b3d2fd023e194713ac202d1b8abf6cfb192676c4f188',
};

describe('schema history (CONTRACT section 10)', () => {
  it('writes with the 0.2 schemas, and keeps every released writer schema by its fingerprint', () => {
    expect(incidentCodec().fingerprint).toBe(RELEASED.incident);
    expect(eventCodec().fingerprint).toBe(RELEASED.event);
    expect(historyFingerprints()).toEqual(expect.arrayContaining(Object.values(RELEASED)));
    for (const fp of historyFingerprints()) {
      const text = readFileSync(join(__dirname, '..', '..', '..', 'schemas', 'history', `${fp}.avsc`), 'utf8');
      expect(avro.Type.forSchema(JSON.parse(text) as avro.Schema).fingerprint('sha256').toString('hex')).toBe(fp);
    }
  });

  it('a record of a later version (one optional field more) is read once its schema is known, refused while it is not', () => {
    const next = nextIncidentSchema();
    const codec = new AvroCodec<Record<string, unknown>>('incident.avsc');
    const incident = { ...sampleIncident(), next_field: 'from the future' };
    const bytes = next.type.toBuffer(incident);
    expect(() => codec.decode(bytes, next.fingerprint)).toThrow(/does not know/);
    useSchemaHistory(next.dir);
    const read = new AvroCodec<Record<string, unknown>>('incident.avsc').decode(bytes, next.fingerprint);
    expect(read).toMatchObject({ incident_id: 'i1', version: 3 });
    expect(read).not.toHaveProperty('next_field');
  });

  it('the later version reads what this one writes (a rolling deploy: new readers, old writers)', () => {
    const next = nextIncidentSchema();
    const written = incidentCodec().encode(sampleIncident() as never);
    const resolver = next.type.createResolver(incidentCodec().type);
    expect(next.type.fromBuffer(written, resolver)).toMatchObject({ incident_id: 'i1', next_field: null });
  });
});
