import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readmeWithAlert, readmeWithDiagram } from '../state-machine/readme-diagram';
import { sampleFailureAlert } from '../state-machine/sample-alert';

/** Rewrites the README's generated blocks (npm run diagram): the state machine diagram and the sample failure alert. */
async function main(): Promise<void> {
  const readme = path.join(__dirname, '..', 'README.md');
  const updated = readmeWithAlert(readmeWithDiagram(readFileSync(readme, 'utf-8')), await sampleFailureAlert());
  writeFileSync(readme, updated);
  console.log('README.md: state machine diagram and sample alert updated');
}

void main();
