import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readmeWithDiagram } from '../state-machine/readme-diagram';

/** Rewrites the state-machine diagram in README.md from the definition (npm run diagram). */
const readme = path.join(__dirname, '..', 'README.md');
writeFileSync(readme, readmeWithDiagram(readFileSync(readme, 'utf-8')));
console.log('README.md: state machine diagram updated');
