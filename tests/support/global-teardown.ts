import { rmSync } from 'node:fs';
import path from 'node:path';
import type { LocalPostgres } from '../../scripts/local/postgres';

export default async function globalTeardown(): Promise<void> {
  const embedded = (globalThis as Record<string, unknown>).__embeddedPostgres as { server: LocalPostgres; dataDir: string } | undefined;
  if (!embedded) return;
  await embedded.server.stop();
  rmSync(path.dirname(embedded.dataDir), { recursive: true, force: true });
}
