import type { Severity } from '../config/file-schema';
import { AvroCodec } from '../shared/avro';

/** A device an event names (CONTRACT section 5 `devices`). */
export interface Device {
  mac: string;
  type: string;
  name: string | null;
}

/** CONTRACT section 5; mirrors schemas/mist-event.avsc (a unit test round-trips every fixture through it). */
export interface MistEvent {
  event_id: string;
  topic: string;
  type: string;
  category: string;
  severity: Severity;
  severity_id: number;
  mist_severity: string | null;
  timestamp: number;
  time_source: string;
  received_at: number;
  org_id: string | null;
  site_id: string | null;
  site_name: string | null;
  device_mac: string | null;
  device_type: string | null;
  device_name: string | null;
  devices: Device[];
  client_mac: string | null;
  mist_id: string | null;
  count: number | null;
  state: 'open' | 'resolved' | null;
  reasons: string[];
  message: string;
  attributes: Record<string, string>;
}

export const eventCodec = (): AvroCodec<MistEvent> => new AvroCodec<MistEvent>('mist-event.avsc');
