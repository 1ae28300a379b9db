import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../functions/shared/database';
import { seedTotesys } from '../totesys/generate';
import { createTotesysSchema } from '../totesys/schema';
import { ensureDatabase, startEmbeddedPostgres, type LocalPostgres } from './postgres';
import { startLocalS3, type LocalS3 } from './s3';

/**
 * Everything the pipeline needs on a laptop, kept under PIPELINE_HOME so that the next run is
 * incremental and deleting the folder starts over: the two buckets (an S3 server over
 * `home/s3`), and ToteSys and the warehouse (the databases named by TOTESYS_DATABASE_URL and
 * WAREHOUSE_DATABASE_URL, or else an embedded PostgreSQL in `home/postgres`, with ToteSys created
 * and seeded on the first run).
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

export const LOCAL_BUCKETS = { ingestion: 'totesys-ingestion', processed: 'totesys-processed' } as const;

export async function startLocalEnvironment(options: LocalEnvironmentOptions): Promise<LocalEnvironment> {
  const log = options.log ?? (() => {});
  const home = path.resolve(options.home);
  mkdirSync(home, { recursive: true });
  const s3: LocalS3 = await startLocalS3({ directory: path.join(home, 's3'), buckets: Object.values(LOCAL_BUCKETS), port: options.s3Port });
  let postgres: LocalPostgres | undefined;
  let seeded = false;
  try {
    let totesysUrl = options.totesysUrl;
    let warehouseUrl = options.warehouseUrl;
    if (!totesysUrl || !warehouseUrl) {
      log(`Starting embedded PostgreSQL in ${path.join(home, 'postgres')}`);
      postgres = await startEmbeddedPostgres(path.join(home, 'postgres', 'data'));
      if (!totesysUrl) {
        const totesys = await ensureDatabase(postgres.adminUrl, 'totesys');
        totesysUrl = totesys.url;
        if (totesys.created) {
          const scale = options.seedScale ?? 1;
          log(`Creating ToteSys and seeding it at scale ${scale} (first run)`);
          const sql = openDatabase(totesysUrl, { max: 4 });
          try {
            await createTotesysSchema(sql);
            await seedTotesys(sql, { scale });
          } finally {
            await sql.end();
          }
          seeded = true;
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
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_REGION: 'eu-west-2',
        // No CloudWatch here: Powertools Metrics would print its embedded-metric lines to the terminal.
        POWERTOOLS_METRICS_DISABLED: 'true',
        // s3rver's fixed credentials: the local server accepts nothing else.
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
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
