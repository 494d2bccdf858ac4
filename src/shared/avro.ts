import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';

const SCHEMA_DIR = join(__dirname, '..', '..', 'schemas');

export class SchemaMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaMismatchError';
  }
}

/**
 * An Avro record type loaded from `schemas/` (the source of truth) with its writer fingerprint,
 * which travels in the `mistbridge-schema` header so readers refuse what they cannot decode.
 */
export class AvroCodec<T> {
  readonly type: avro.Type;
  readonly fingerprint: string;

  constructor(file: string) {
    this.type = avro.Type.forSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as avro.Schema);
    this.fingerprint = this.type.fingerprint('sha256').toString('hex');
  }

  encode(value: T): Buffer {
    return this.type.toBuffer(value);
  }

  /** Throws SchemaMismatchError when the writer fingerprint differs or the bytes do not decode. */
  decode(buffer: Buffer, fingerprint: string | undefined): T {
    if (fingerprint !== undefined && fingerprint !== this.fingerprint)
      throw new SchemaMismatchError(`written with schema ${fingerprint}, this reader knows ${this.fingerprint}`);
    try {
      return this.type.fromBuffer(buffer) as T;
    } catch (err) {
      throw new SchemaMismatchError(`undecodable Avro: ${(err as Error).message}`);
    }
  }

  /** The field paths where `value` breaks the schema (empty when valid). */
  problems(value: unknown): string[] {
    const paths: string[] = [];
    this.type.isValid(value, { errorHook: (path) => paths.push(path.join('.') || '(root)') });
    return paths;
  }
}

export const SCHEMA_HEADER = 'mistbridge-schema';
