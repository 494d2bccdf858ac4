import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VARIABLES } from '../../../src/config/variables';

const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');

describe('README stays true', () => {
  it('documents every configuration variable with its default', () => {
    for (const variable of VARIABLES) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${variable.name}\``) || line.includes(` / \`${variable.name}\` |`));
      expect({ variable: variable.name, documented: row !== undefined }).toEqual({ variable: variable.name, documented: true });
      if (variable.default !== undefined) expect(row).toContain(`\`${variable.default}\``);
    }
  });

  it('shows the quick-start and test commands', () => {
    expect(readme).toContain('npm ci\nnpm start');
    expect(readme).toContain('npm test');
  });
});
