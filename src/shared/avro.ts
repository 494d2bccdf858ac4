import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import avro from 'avsc';

const SCHEMA_DIR = join(__dirname, '..', '..', 'schemas');
/** Every released writer schema, named by its fingerprint: what readers resolve older or newer records with. */
const HISTORY_DIR = join(SCHEMA_DIR, 'history');
const extraHistory: string[] = [];

/**
 * Also resolve writer schemas from `dir` (SCHEMA_HISTORY_DIR): a newer version's `schemas/history/`
 * copied here lets this version read what that one writes (a rolling deploy, a rollback).
 */
export function useSchemaHistory(dir: string): void {
  if (!extraHistory.includes(dir)) extraHistory.push(dir);
}

export class SchemaMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SchemaMismatchError';
  }
}

/**
 * An Avro record type loaded from `schemas/` (the source of truth) with its writer fingerprint,
 * which travels in the `mistbridge-schema` header. A record written with another schema is read
 * through Avro schema resolution when that writer schema is known (`schemas/history/`, by
 * fingerprint); only an unknown fingerprint is refused.
 */
export class AvroCodec<T> {
  readonly type: avro.Type;
  readonly fingerprint: string;
  /** Resolvers by writer fingerprint, built on first use; null: looked for, not known. */
  readonly #resolvers = new Map<string, avro.Resolver | null>();

  constructor(file: string) {
    this.type = avro.Type.forSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as avro.Schema);
    this.fingerprint = this.type.fingerprint('sha256').toString('hex');
  }

  encode(value: T): Buffer {
    return this.type.toBuffer(value);
  }

  /** Throws SchemaMismatchError when the writer schema is unknown or the bytes do not decode. */
  decode(buffer: Buffer, fingerprint: string | undefined): T {
    const resolver = fingerprint === undefined || fingerprint === this.fingerprint ? undefined : this.#resolver(fingerprint);
    if (resolver === null) throw new SchemaMismatchError(`written with schema ${fingerprint}, which this version does not know (schemas/history, SCHEMA_HISTORY_DIR)`);
    try {
      return this.type.fromBuffer(buffer, resolver) as T;
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

  #resolver(fingerprint: string): avro.Resolver | null {
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) return null;
    let resolver = this.#resolvers.get(fingerprint);
    if (resolver === undefined) {
      resolver = null;
      for (const dir of [HISTORY_DIR, ...extraHistory]) {
        let text: string;
        try {
          text = readFileSync(join(dir, `${fingerprint}.avsc`), 'utf8');
        } catch {
          continue;
        }
        const writer = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
        // A file misnamed, or another record type's: never resolved into this one.
        if (writer.fingerprint('sha256').toString('hex') !== fingerprint || writer.name !== this.type.name) continue;
        try {
          resolver = this.type.createResolver(writer);
        } catch {
          resolver = null; // incompatible writer: as good as unknown
        }
        break;
      }
      this.#resolvers.set(fingerprint, resolver);
    }
    return resolver;
  }
}

/** The writer fingerprints `schemas/history/` holds (tests check every released schema stays there). */
export function historyFingerprints(): string[] {
  return readdirSync(HISTORY_DIR)
    .filter((f) => f.endsWith('.avsc'))
    .map((f) => f.slice(0, -'.avsc'.length));
}

export const SCHEMA_HEADER = 'mistbridge-schema';
