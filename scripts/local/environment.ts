import path from 'node:path';
import type { Sql } from 'postgres';
import { openDatabase } from '../../functions/shared/database';
import { ConfigurationError } from '../../functions/shared/errors';
import { seedTotesys } from '../totesys/generate';
import { TOTESYS_TABLE_NAMES } from '../../functions/shared/totesys-tables';
import { createTotesysSchema, dropTotesysSchema, existingTotesysTables } from '../totesys/schema';
import { preparePipelineHome } from './home';
import { ensureDatabase, startEmbeddedPostgres, type LocalPostgres } from './postgres';
import { localS3Environment, startLocalS3, type LocalS3 } from './s3';

/**
 * Everything the pipeline needs on a laptop, kept under PIPELINE_HOME so that the next run is
 * incremental and deleting the folder starts over: the two buckets (an S3 server over
 * `home/s3`), and ToteSys and the warehouse (the databases named by TOTESYS_DATABASE_URL and
 * WAREHOUSE_DATABASE_URL, or else an embedded PostgreSQL in `home/postgres`, with ToteSys created
 * and seeded on the first run, and seeded again by the next run when that seed did not finish).
 */
export interface LocalEnvironment {
  readonly home: string;
  /** The steps' configuration, as their Lambda environment would hold it in AWS. */
  readonly stepEnv: Readonly<Record<string, string>>;
  /** True when this run created and seeded ToteSys. */
  readonly seeded: boolean;
  stop(): Promise<void>;
}

export interface LocalEnvironmentOptions {
  readonly home: string;
  readonly totesysUrl?: string;
  readonly warehouseUrl?: string;
  /** Scale of the ToteSys seeded into an embedded server on the first run. */
  readonly seedScale?: number;
  readonly s3Port?: number;
  readonly log?: (message: string) => void;
}

/**
 * LOCAL_SEED_SCALE: the scale of the ToteSys the first run seeds (1 = about the real database),
 * read before anything starts so that a bad value is named at once.
 */
export function readSeedScale(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const text = env.LOCAL_SEED_SCALE;
  if (text === undefined || text.trim() === '') return 1;
  const scale = Number(text);
  if (!Number.isFinite(scale) || scale <= 0) {
    throw new ConfigurationError(`LOCAL_SEED_SCALE must be a positive number (1 = about the real ToteSys, 0.1 a tenth of it), not "${text}"`);
  }
  return scale;
}

export const LOCAL_BUCKETS = { ingestion: 'totesys-ingestion', processed: 'totesys-processed' } as const;

export async function startLocalEnvironment(options: LocalEnvironmentOptions): Promise<LocalEnvironment> {
  const log = options.log ?? (() => {});
  const home = path.resolve(options.home);
  preparePipelineHome(home);
  const s3: LocalS3 = await startLocalS3({ directory: path.join(home, 's3'), buckets: Object.values(LOCAL_BUCKETS), port: options.s3Port });
  let postgres: LocalPostgres | undefined;
  let seeded = false;
  try {
    let totesysUrl = options.totesysUrl;
    let warehouseUrl = options.warehouseUrl;
    if (!totesysUrl || !warehouseUrl) {
      log(`Starting embedded PostgreSQL in ${path.join(home, 'postgres')}`);
      postgres = await startEmbeddedPostgres(path.join(home, 'postgres', 'data'), undefined, { note: log });
      if (!totesysUrl) {
        const totesys = await ensureDatabase(postgres.adminUrl, 'totesys');
        totesysUrl = totesys.url;
        const sql = openDatabase(totesysUrl, { max: 4 });
        try {
          seeded = await seedUnlessSeeded(sql, totesys.created, options.seedScale ?? 1, log);
        } finally {
          await sql.end();
        }
      }
      warehouseUrl ??= (await ensureDatabase(postgres.adminUrl, 'warehouse')).url;
    }
    return {
      home,
      seeded,
      stepEnv: {
        TOTESYS_DATABASE_URL: totesysUrl,
        WAREHOUSE_DATABASE_URL: warehouseUrl,
        INGESTION_BUCKET: LOCAL_BUCKETS.ingestion,
        PROCESSED_BUCKET: LOCAL_BUCKETS.processed,
        ...localS3Environment(s3.endpoint),
        // No CloudWatch here: Powertools Metrics would print its embedded-metric lines to the terminal.
        POWERTOOLS_METRICS_DISABLED: 'true',
      },
      stop: async () => {
        await s3.stop();
        await postgres?.stop();
      },
    };
  } catch (error) {
    await s3.stop();
    await postgres?.stop();
    throw error;
  }
}

/**
 * Seeds the embedded ToteSys unless it is seeded already. The first run seeds it; a seed cut
 * short (Ctrl-C, a crash, a bad scale) leaves it without tables, with some, or with empty ones
 * (the schema and the rows are each written in one transaction), and the next run sees that and
 * seeds it again, instead of running the pipeline on an empty ToteSys for ever. A ToteSys with
 * rows is never touched. Returns whether it seeded.
 */
async function seedUnlessSeeded(sql: Sql, created: boolean, scale: number, log: (message: string) => void): Promise<boolean> {
  const state = created ? 'new' : await seedState(sql);
  if (state === 'seeded') return false;
  if (state === 'new') log(`Creating ToteSys and seeding it at scale ${scale} (first run)`);
  else log(`ToteSys is ${state === 'empty' ? 'empty' : 'half made'}: the first run's seed did not finish. Seeding it again at scale ${scale}`);
  if (state === 'partial') await dropTotesysSchema(sql);
  if (state !== 'empty') await createTotesysSchema(sql);
  await seedTotesys(sql, { scale });
  return true;
}

/** `seeded`: some table has rows. Otherwise `empty`: every table there, none with rows; `partial`: tables missing (or all). */
async function seedState(sql: Sql): Promise<'partial' | 'empty' | 'seeded'> {
  const tables = await existingTotesysTables(sql);
  for (const table of tables) {
    const [row] = await sql`SELECT EXISTS (SELECT 1 FROM ${sql(table)}) AS filled`;
    if (row?.filled) return 'seeded';
  }
  return tables.length === TOTESYS_TABLE_NAMES.length ? 'empty' : 'partial';
}
