// `npm start` on a fresh clone: build once, then reuse dist/ until a source file is newer.
const { statSync, readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { execSync } = require('node:child_process');

const root = join(__dirname, '..');
const entry = join(root, 'dist', 'cli.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entryName of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entryName.name);
    const mtime = entryName.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

// The server (dist/) and the console's page (dist/web, from console/): `npm run build`.
const page = join(root, 'dist', 'web', 'app.js');
const stale = !existsSync(entry) || !existsSync(page) || Math.max(newestMtime(join(root, 'src')), newestMtime(join(root, 'console'))) > Math.min(statSync(entry).mtimeMs, statSync(page).mtimeMs);
if (stale) {
  execSync('npx tsc -p tsconfig.build.json && npx tsc -p console/tsconfig.json && node scripts/copy-console.js', { cwd: root, stdio: 'inherit' });
}
