import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import avro from 'avsc';

/** A later version's incident schema: one optional field more (test/fixtures/schemas). */
export function nextIncidentSchema(): { schema: avro.Schema; type: avro.Type; fingerprint: string; dir: string } {
  const text = readFileSync(join(__dirname, '..', 'fixtures', 'schemas', 'incident-next.avsc'), 'utf8');
  const type = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
  const fingerprint = type.fingerprint('sha256').toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'mistbridge-schemas-'));
  writeFileSync(join(dir, `${fingerprint}.avsc`), text);
  return { schema: JSON.parse(text) as avro.Schema, type, fingerprint, dir };
}

/** An incident record as the schemas know it. */
export function sampleIncident(): Record<string, unknown> {
  return {
    incident_id: 'i1', key: 'device:o:aa', kind: 'device', state: 'open', severity: 'medium', severity_id: 3, title: 'AP offline',
    org_id: 'o', site_id: 's', site_name: null, entities: ['aa'], opened_at: 1, updated_at: 1, resolved_at: null, resolve_reason: null,
    event_count: 1, last_event_id: 'e', last_event_type: 'device_down', context: [], version: 3, device_type: 'ap', applied_event_ids: [],
  };
}
