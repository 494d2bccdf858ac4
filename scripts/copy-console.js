#!/usr/bin/env node
// The console's static files beside its compiled script (dist/web): the image copies dist/ only.
const { copyFileSync, mkdirSync } = require('node:fs');
const { join } = require('node:path');

const from = join(__dirname, '..', 'console');
const to = join(__dirname, '..', 'dist', 'web');
mkdirSync(to, { recursive: true });
for (const file of ['index.html', 'style.css']) copyFileSync(join(from, file), join(to, file));
