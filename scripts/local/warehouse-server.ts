/**
 * The embedded PostgreSQL of `npm run warehouse`, run in a process of its own, forked detached
 * (a session of its own) by scripts/warehouse.ts. Detached, the server is out of the terminal's
 * process group: Ctrl-C typed into psql cancels psql's query instead of also shutting the server
 * down, and only scripts/warehouse.ts decides when the server stops.
 *
 * Protocol, over the IPC channel: it sends `{type: 'ready', adminUrl, hasWarehouse}` or
 * `{type: 'failed', message}`; on `'stop'`, or when the parent goes away (the channel closes),
 * it stops the server and exits, after sending `{type: 'stopped'}` when it still can.
 */
import postgres from 'postgres';
import { startEmbeddedPostgres, type LocalPostgres } from './postgres';
import { EMBEDDED_WAREHOUSE_DATABASE } from './warehouse-command';

export type ServerMessage =
  | { readonly type: 'ready'; readonly adminUrl: string; readonly hasWarehouse: boolean }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'stopped' };

const send = (message: ServerMessage) => {
  if (process.connected) process.send?.(message);
};

async function main(dataDir: string): Promise<void> {
  let server: LocalPostgres | undefined;
  let stopping: Promise<void> | undefined;
  let stopRequested = false;
  const stop = () => {
    stopRequested = true;
    if (!server) return; // still starting: stopped as soon as it is up
    stopping ??= server.stop().then(() => {
      send({ type: 'stopped' });
      process.disconnect?.();
      process.exit(0);
    });
  };
  process.on('message', (message) => {
    if (message === 'stop') stop();
  });
  process.on('disconnect', stop);

  const log: string[] = [];
  try {
    server = await startEmbeddedPostgres(dataDir, (line) => log.push(...line.trim().split('\n')));
  } catch (error) {
    const reason = error instanceof Error ? error.message : '';
    const lastLines = log.slice(-5).join('\n    ');
    send({ type: 'failed', message: [reason, lastLines].filter(Boolean).join('\n    ') || 'the server exited while starting' });
    process.exit(1);
  }
  if (stopRequested) return stop();
  const sql = postgres(server.adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`SELECT 1 FROM pg_database WHERE datname = ${EMBEDDED_WAREHOUSE_DATABASE}`;
    send({ type: 'ready', adminUrl: server.adminUrl, hasWarehouse: rows.length > 0 });
  } catch (error) {
    await server.stop();
    throw error;
  } finally {
    await sql.end();
  }
  if (stopRequested || !process.connected) stop();
}

const dataDir = process.argv[2];
if (!dataDir || !process.send) {
  console.error('scripts/local/warehouse-server.ts is started by scripts/warehouse.ts (npm run warehouse)');
  process.exit(2);
}
main(dataDir).catch((error: unknown) => {
  send({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
