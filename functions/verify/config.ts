import { readDatabaseCredentials, readS3Settings, type DatabaseCredentials, type S3Settings } from '../shared/config';
import { ConfigurationError } from '../shared/errors';

/** Verification reads both databases and the ingestion bucket (the batch's manifest and key sets). */
export interface VerifyConfig {
  readonly totesys: DatabaseCredentials;
  readonly warehouse: DatabaseCredentials;
  readonly ingestionBucket: string;
  readonly s3: S3Settings;
}

export function readVerifyConfig(env: Readonly<Record<string, string | undefined>> = process.env): VerifyConfig {
  const ingestionBucket = env.INGESTION_BUCKET;
  if (ingestionBucket === undefined || ingestionBucket.trim() === '') throw new ConfigurationError('Missing INGESTION_BUCKET');
  return {
    totesys: readDatabaseCredentials(env, 'TOTESYS'),
    warehouse: readDatabaseCredentials(env, 'WAREHOUSE'),
    ingestionBucket,
    s3: readS3Settings(env),
  };
}
