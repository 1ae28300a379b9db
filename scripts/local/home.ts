import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigurationError } from '../../functions/shared/errors';

/**
 * Makes sure PIPELINE_HOME `home` is a folder this process can write to, before anything is
 * started in it: a read-only or unwritable PIPELINE_HOME otherwise surfaces much later as a bare
 * EROFS or EACCES from whichever component writes first.
 */
export function preparePipelineHome(home: string): void {
  try {
    mkdirSync(home, { recursive: true });
    const probe = path.join(home, `.write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigurationError(
      `PIPELINE_HOME=${home} ${describeProblem(code)}${code ? ` (${code})` : ''}: the local runs keep their lake, databases and records there. ` +
        'Point PIPELINE_HOME at a folder you can write to (for example PIPELINE_HOME=/tmp/totesys-pipeline npm start), or make this one writable.',
      { cause: error },
    );
  }
}

function describeProblem(code: string | undefined): string {
  switch (code) {
    case 'EROFS':
      return 'is on a read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'is not writable by this user';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'is not a folder (it, or a folder above it, is a file)';
    case 'ENOSPC':
      return 'is on a full disk';
    default:
      return 'cannot be written to';
  }
}
