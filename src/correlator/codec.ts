import { AvroCodec } from '../shared/avro';
import type { Incident } from './incident';

export const incidentCodec = (): AvroCodec<Incident> => new AvroCodec<Incident>('incident.avsc');
