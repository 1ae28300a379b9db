import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readmeWithDiagram } from '../../state-machine/readme-diagram';

describe('the README', () => {
  const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf-8');

  it('draws the state machine the definition builds (run `npm run diagram` after changing it)', () => {
    expect(readmeWithDiagram(readme)).toBe(readme);
    expect(readme).toContain('Transform --> TransformFailed: error');
  });

  it('gives the quick start: npm ci, npm start, npm test', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
    for (const command of ['npm ci', 'npm start', 'npm test']) expect(quickStart).toContain(command);
  });
});
