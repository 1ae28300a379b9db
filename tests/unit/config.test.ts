import { DUCKDB_HEADROOM_MB, duckDbMemoryLimitMb, readExtractConfig, readLoadConfig, readTransformConfig } from '../../functions/shared/config';
import { ConfigurationError } from '../../functions/shared/errors';

describe('extract configuration', () => {
  const base = { TOTESYS_DATABASE_URL: 'postgres://u:p@db:5432/totesys', INGESTION_BUCKET: 'ingestion' };

  it('reads a URL, the bucket and S3 settings, with path-style addressing when an endpoint is given', () => {
    expect(readExtractConfig({ ...base, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000', AWS_REGION: 'us-east-1' })).toEqual({
      totesys: { url: base.TOTESYS_DATABASE_URL },
      ingestionBucket: 'ingestion',
      s3: { region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
    });
  });

  it('takes a Secrets Manager secret instead of a URL in AWS', () => {
    const config = readExtractConfig({ TOTESYS_SECRET_ID: 'totesys/credentials', INGESTION_BUCKET: 'b' });
    expect(config.totesys).toEqual({ secretId: 'totesys/credentials' });
    expect(config.s3.forcePathStyle).toBe(false);
  });

  it.each([
    [{ INGESTION_BUCKET: 'b' }, /Missing TOTESYS_DATABASE_URL .* or TOTESYS_SECRET_ID/],
    [{ TOTESYS_DATABASE_URL: 'mysql://x', INGESTION_BUCKET: 'b' }, /TOTESYS_DATABASE_URL must be a postgres:\/\/ URL/],
    [{ TOTESYS_DATABASE_URL: 'postgres://x', TOTESYS_SECRET_ID: 's', INGESTION_BUCKET: 'b' }, /only one of TOTESYS_DATABASE_URL and TOTESYS_SECRET_ID/],
    [{ TOTESYS_DATABASE_URL: 'postgres://x' }, /Missing INGESTION_BUCKET/],
    [{ ...base, S3_FORCE_PATH_STYLE: 'yes' }, /S3_FORCE_PATH_STYLE must be true or false, not "yes"/],
    [{ ...base, AWS_ENDPOINT_URL_S3: 'localhost:9000' }, /AWS_ENDPOINT_URL_S3 must be an http\(s\) URL/],
  ])('names the variable that is missing or malformed (%o)', (env, message) => {
    expect(() => readExtractConfig(env)).toThrow(ConfigurationError);
    expect(() => readExtractConfig(env)).toThrow(message);
  });
});

describe('DuckDB memory limit', () => {
  it('is 60% of the function memory, leaving the headroom the process needs beside it, at least 128 MB', () => {
    expect(duckDbMemoryLimitMb(3008)).toBe(1804);
    expect(duckDbMemoryLimitMb(2048)).toBe(1228);
    expect(duckDbMemoryLimitMb(1024)).toBe(1024 - DUCKDB_HEADROOM_MB);
    expect(duckDbMemoryLimitMb(512)).toBe(128);
  });

  it('is the default of TRANSFORM_MEMORY_LIMIT_MB and LOAD_MEMORY_LIMIT_MB, from the Lambda memory size', () => {
    const env = { INGESTION_BUCKET: 'i', PROCESSED_BUCKET: 'p', WAREHOUSE_DATABASE_URL: 'postgres://w', AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024' };
    expect(readTransformConfig(env).duckdb.memoryLimitMb).toBe(duckDbMemoryLimitMb(1024));
    expect(readLoadConfig(env).duckdb.memoryLimitMb).toBe(duckDbMemoryLimitMb(1024));
    expect(readTransformConfig({ ...env, TRANSFORM_MEMORY_LIMIT_MB: '300' }).duckdb.memoryLimitMb).toBe(300);
  });
});
