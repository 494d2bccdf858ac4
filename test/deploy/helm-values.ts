import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'helm');

/**
 * The README's `helm install` command, as written: its `--set` arguments, placeholders such as
 * `<hec token>` filled with sample values.
 */
export function readmeInstall(): { name: string; set: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const block = /```sh\n(helm install [^`]+)```/.exec(readme);
  if (!block) throw new Error('README has no ```sh block with helm install');
  const words = block[1]!
    .replace(/\\\n/g, ' ')
    .replace(/<([^>]+)>/g, (_, what: string) => `sample-${what.replace(/\W+/g, '-')}`)
    .trim()
    .split(/\s+/);
  const set: string[] = [];
  for (let i = 0; i < words.length; i++) if (words[i] === '--set') set.push(words[++i]!);
  return { name: words[2]!, set };
}

/** The values sets every chart test renders (CONTRACT: at least these four). */
export const VALUE_SETS: Array<{ label: string; name?: string; files?: string[]; set?: string[] }> = [
  { label: 'defaults plus image.repository', set: ['image.repository=registry.example.com/mistbridge'] },
  { label: "the README's helm install", ...readmeInstall() },
  { label: 'full values (SASL, CAs, HPA, Ingress TLS, ServiceMonitor, PrometheusRule, config)', files: [join(FIXTURES, 'full-values.yaml')] },
  { label: 'large numbers (10 MB body, 30-day quiet window)', files: [join(FIXTURES, 'large-numbers.yaml')] },
];

/** The Secrets a user creates before installing with full-values.yaml (CA bundles). */
export function existingSecrets(ca: string): Record<string, Record<string, string>> {
  return { 'kafka-ca': { 'ca.crt': ca }, 'splunk-ca': { 'ca.crt': ca }, 'mist-webhook-secrets': { secrets: '2818e386-8dec-2562-9ede-5b8a0fbbdc71 org-secret\n' } };
}
