import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const nodeVersion = /^ARG NODE_VERSION=(\d+)\.(\d+)\.(\d+)$/m.exec(dockerfile);

describe('the image (Dockerfile)', () => {
  it('pins a supported Node.js LTS, and every stage uses it', () => {
    expect(nodeVersion).not.toBeNull();
    const major = Number(nodeVersion![1]);
    expect(major % 2 === 0 && major >= 22).toBe(true); // even majors are the LTS lines; 20 ended in April 2026
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBe(3);
    for (const from of froms) expect(from).toBe('node:${NODE_VERSION}-bookworm-slim');
  });

  it('CI runs the tests on the Node.js the image ships', () => {
    if (process.env.CI !== 'true') return; // a developer's own Node is fine for their loop
    expect(process.version).toBe(`v${nodeVersion![1]}.${nodeVersion![2]}.${nodeVersion![3]}`);
  });

  it('builds the console into dist/ (the runtime stage copies dist/ only)', () => {
    expect(dockerfile).toMatch(/^COPY console \.\/console$/m);
    expect(dockerfile).toMatch(/^RUN npx tsc -p tsconfig\.build\.json && npx tsc -p console\/tsconfig\.json && node scripts\/copy-console\.js$/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
  });

  it('runs as a numeric non-root user, health-checks the admin port, declares both ports and OCI labels', () => {
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .* CMD \["node", "scripts\/healthcheck\.js"\]$/m);
    expect(dockerfile).toMatch(/^COPY scripts\/healthcheck\.js scripts\/docker-entrypoint\.sh \.\/scripts\/$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/app\/scripts\/docker-entrypoint\.sh"\]$/m);
    expect(dockerfile).toMatch(/^EXPOSE 8080 8081$/m);
    for (const label of ['title', 'description', 'version', 'revision', 'licenses']) expect(dockerfile).toContain(`org.opencontainers.image.${label}=`);
  });
});
