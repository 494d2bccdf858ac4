import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Ajv from 'ajv';
import { parseAllDocuments } from 'yaml';

export const CHART = join(__dirname, '..', '..', 'helm', 'mistbridge');
const RENDERER = join(__dirname, '..', 'tools', 'bin', 'helm-render');
const VALIDATOR = join(__dirname, '..', 'tools', 'validate-manifests.mjs');

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: unknown;
}

export interface Rendered {
  values: Record<string, unknown>;
  manifests: Manifest[];
  notes: string;
}

/**
 * Why the chart tests cannot run: the Helm-compatible renderer (test/tools/helm-render, built by
 * test/tools/build.sh from Debian's golang-go and sprig) is missing. Under CI=true it must be there.
 */
export function helmRendererAvailability(): string | null {
  if (existsSync(RENDERER)) return null;
  const reason = `${RENDERER} is not built (bash test/tools/build.sh; Debian packages golang-go, golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev)`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
  return reason;
}

const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as object;
const validateValues = new Ajv({ strict: false, allErrors: true }).compile(schema);

export class HelmError extends Error {}

/**
 * `helm template <name> helm/mistbridge -f <files> --set <sets>`: values coalesced with Helm's
 * semantics, checked against values.schema.json (as Helm does before rendering), templates
 * executed by Helm's engine; the manifests parsed from the YAML Helm would send to the cluster.
 */
export async function helmTemplate(options: { name?: string; files?: string[]; set?: string[] } = {}): Promise<Rendered> {
  const args = ['-chart', CHART, '-name', options.name ?? 'mistbridge'];
  for (const file of options.files ?? []) args.push('-f', file);
  for (const set of options.set ?? []) args.push('-set', set);
  let stdout: string;
  try {
    stdout = (await promisify(execFile)(RENDERER, args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    throw new HelmError(((err as { stderr?: string }).stderr ?? String(err)).trim());
  }
  const out = JSON.parse(stdout) as { values: Record<string, unknown>; manifests: Record<string, string>; notes: string; error?: string };
  if (!validateValues(out.values)) {
    throw new HelmError(`values don't meet the specifications of the schema(s): ${JSON.stringify(validateValues.errors)}`);
  }
  if (out.error) throw new HelmError(`Error: ${out.error}`);
  const manifests: Manifest[] = [];
  for (const [source, text] of Object.entries(out.manifests).sort(([a], [b]) => a.localeCompare(b))) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]!.message}\n${text}`);
      const manifest = doc.toJS() as Manifest | null;
      if (manifest) manifests.push(manifest);
    }
  }
  return { values: out.values, manifests, notes: out.notes };
}

/** Every manifest checked against the Kubernetes (and prometheus-operator) OpenAPI schemas. */
export function schemaProblems(manifests: Manifest[]): Array<{ kind: string; name: string; error: string }> {
  const out = execFileSync(process.execPath, [VALIDATOR], { input: JSON.stringify(manifests), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out) as Array<{ kind: string; name: string; error: string }>;
}

export const ofKind = (manifests: Manifest[], kind: string): Manifest[] => manifests.filter((m) => m.kind === kind);
