// Validates Kubernetes manifests against the API's OpenAPI schemas (npm kubernetes-models, plus
// the prometheus-operator models for ServiceMonitor and PrometheusRule). The models are ES
// modules, which Jest's module system cannot load: the chart tests run this as a child process.
// stdin: a JSON array of manifests; stdout: a JSON array of { kind, name, error } (empty = valid).
const MODULES = {
  'monitoring.coreos.com': (version) => `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}`,
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const manifests = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const problems = [];
for (const manifest of manifests) {
  const [group, version] = manifest.apiVersion.includes('/') ? manifest.apiVersion.split('/') : ['', manifest.apiVersion];
  const specifier = MODULES[group]?.(version) ?? `kubernetes-models/${group ? `${group}/` : ''}${version}`;
  const where = { kind: manifest.kind, name: manifest.metadata?.name };
  try {
    const models = await import(specifier);
    const Model = models[manifest.kind];
    if (!Model) throw new Error(`no model for ${manifest.apiVersion} ${manifest.kind}`);
    new Model(manifest).validate();
  } catch (err) {
    problems.push({ ...where, error: err.message });
  }
}
process.stdout.write(JSON.stringify(problems));
