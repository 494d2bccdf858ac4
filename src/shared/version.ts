import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** mistbridge's version, from package.json (beside dist/ in the image, and above src/ in a checkout). */
export const MISTBRIDGE_VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
