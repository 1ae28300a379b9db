import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readmeWithAlert, readmeWithDiagram } from '../../state-machine/readme-diagram';
import { sampleFailureAlert } from '../../state-machine/sample-alert';

describe('the README', () => {
  const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf-8');

  it('draws the state machine the definition builds (run `npm run diagram` after changing it)', () => {
    expect(readmeWithDiagram(readme)).toBe(readme);
    expect(readme).toContain('Transform --> TransformFailed: error');
  });

  it("shows the failure alert the real definition sends (run `npm run diagram` after changing it)", async () => {
    const alert = await sampleFailureAlert();
    expect(alert.subject).toBe('ToteSys pipeline failed at Load');
    expect(alert.message).toContain('{"resumeFrom":"load","batchId":"0000000042"}');
    expect(readmeWithAlert(readme, alert)).toBe(readme);
  });

  it('gives the quick start: npm ci, npm start, npm test', () => {
    const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
    for (const command of ['npm ci', 'npm start', 'npm test']) expect(quickStart).toContain(command);
  });
});
