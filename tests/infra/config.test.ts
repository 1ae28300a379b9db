import { DEFAULT_ROW_POLICY } from '../../functions/shared/config';
import { DEFAULT_FUNCTION_SIZING, InfraConfigError, readInfraConfig, schedulePeriodSeconds } from '../../infra/config';

const email = { PIPELINE_ALERT_EMAIL: 'data-team@example.com' };

describe('the infrastructure configuration', () => {
  it('has a default for everything but the alert email', () => {
    expect(readInfraConfig(email)).toEqual({
      region: 'eu-west-2',
      namePrefix: 'totesys-pipeline',
      environment: 'dev',
      resourcePrefix: 'totesys-pipeline-dev',
      alertEmail: 'data-team@example.com',
      schedule: { expression: 'rate(15 minutes)', enabled: true },
      verifySchedule: { expression: 'cron(7 5 * * ? *)', enabled: true },
      secrets: {
        totesys: { create: true, name: 'totesys-pipeline-dev/totesys' },
        warehouse: { create: true, name: 'totesys-pipeline-dev/warehouse' },
      },
      vpc: undefined,
      functions: DEFAULT_FUNCTION_SIZING,
      functionLogLevel: 'INFO',
      logRetentionDays: 30,
      stateMachineLogLevel: 'ERROR',
      staleAfterHours: 3,
      maxChangeLagMinutes: 120,
      databaseSslMode: 'verify-full',
      rows: DEFAULT_ROW_POLICY,
      forceDestroy: false,
      backend: { type: 'local' },
    });
  });

  it('names the variable and the context key of a missing alert email', () => {
    expect(() => readInfraConfig({})).toThrow(new InfraConfigError('Missing PIPELINE_ALERT_EMAIL (cdktf.json context "alertEmail"): an email address: the address that receives failure alerts'));
  });

  it('reads cdktf.json context, and lets the environment override it', () => {
    const context: Record<string, unknown> = { alertEmail: 'ops@example.com', environment: 'staging', scheduleEnabled: false, transformMemoryMb: 4096, subnetIds: ['subnet-01', 'subnet-02'], securityGroupIds: 'sg-01' };
    const config = readInfraConfig({ PIPELINE_ENVIRONMENT: 'prod' }, (key) => context[key]);
    expect(config).toMatchObject({
      alertEmail: 'ops@example.com',
      environment: 'prod',
      resourcePrefix: 'totesys-pipeline-prod',
      schedule: { enabled: false },
      vpc: { subnetIds: ['subnet-01', 'subnet-02'], securityGroupIds: ['sg-01'] },
    });
    expect(config.functions.transform).toEqual({ memoryMb: 4096, timeoutSeconds: 900, ephemeralStorageMb: 4096 });
  });

  it('reads the verification schedule like the pipeline’s, and sizes the verify function like a step', () => {
    const config = readInfraConfig({ ...email, PIPELINE_VERIFY_SCHEDULE_EXPRESSION: 'rate(6 hours)', PIPELINE_VERIFY_MEMORY_MB: '1024' }, (key) =>
      key === 'verifyScheduleEnabled' ? false : undefined,
    );
    expect(config.verifySchedule).toEqual({ expression: 'rate(6 hours)', enabled: false });
    expect(config.schedule).toEqual({ expression: 'rate(15 minutes)', enabled: true });
    expect(config.functions.verify).toEqual({ memoryMb: 1024, timeoutSeconds: 900, ephemeralStorageMb: 512 });
  });

  it('reads the freshness alarm’s threshold in minutes from the environment or the context', () => {
    expect(readInfraConfig({ ...email, PIPELINE_MAX_CHANGE_LAG_MINUTES: '45' }).maxChangeLagMinutes).toBe(45);
    expect(readInfraConfig(email, (key) => (key === 'maxChangeLagMinutes' ? 240 : undefined)).maxChangeLagMinutes).toBe(240);
  });

  it('reads Transform’s row policy from the environment or the context, as its Lambda reads it', () => {
    expect(readInfraConfig({ ...email, PIPELINE_STRICT_ROWS: 'true', PIPELINE_LATEST_DATE: '2030-06-30' }).rows).toEqual({
      strict: true,
      earliestDate: '1970-01-01',
      latestDate: '2030-06-30',
    });
    const context: Record<string, unknown> = { strictRows: false, earliestDate: '2000-01-01', latestDate: '2030-06-30' };
    expect(readInfraConfig({ ...email, PIPELINE_LATEST_DATE: '2035-01-01' }, (key) => context[key]).rows).toEqual({
      strict: false,
      earliestDate: '2000-01-01',
      latestDate: '2035-01-01',
    });
    expect(() => readInfraConfig(email, (key) => (key === 'earliestDate' ? '2000-02-30' : undefined))).toThrow(
      new InfraConfigError('PIPELINE_EARLIEST_DATE (cdktf.json context "earliestDate") must be a day as YYYY-MM-DD, got "2000-02-30"'),
    );
  });

  it.each([
    ['rate(15 minutes)', 900],
    ['rate(1 minute)', 60],
    ['rate(2 hours)', 7200],
    ['rate(1 day)', 86_400],
    ['rate(30 days)', 7 * 86_400],
    ['cron(0/15 * * * ? *)', 900],
    ['cron(*/5 * * * ? *)', 300],
    ['cron(50/15 * * * ? *)', 3600],
    ['cron(0 * * * ? *)', 3600],
    ['cron(0 6,18 * * ? *)', 12 * 3600],
    ['cron(0,30 8-18 * * ? *)', 13.5 * 3600],
    ['cron(7 5 * * ? *)', 86_400],
    ['cron(0 L * * ? *)', 86_400],
    ['at(2030-01-01T00:00:00)', 86_400],
  ])('takes the longest gap between starts of %s as %d s', (expression, seconds) => {
    expect(schedulePeriodSeconds(expression)).toBe(seconds);
  });

  it('uses existing secrets when their names are given', () => {
    expect(readInfraConfig({ ...email, PIPELINE_TOTESYS_SECRET_NAME: 'shared/totesys-readonly' }).secrets).toEqual({
      totesys: { create: false, name: 'shared/totesys-readonly' },
      warehouse: { create: true, name: 'totesys-pipeline-dev/warehouse' },
    });
  });

  it('keeps state in S3 when a state bucket is named', () => {
    expect(readInfraConfig({ ...email, PIPELINE_STATE_BUCKET: 'acme-tf-state', PIPELINE_STATE_REGION: 'eu-west-1', PIPELINE_STATE_LOCK_TABLE: 'tf-locks' }).backend).toEqual({
      type: 's3',
      bucket: 'acme-tf-state',
      key: 'totesys-pipeline-dev/terraform.tfstate',
      region: 'eu-west-1',
      dynamodbTable: 'tf-locks',
    });
  });

  it.each([
    [{ PIPELINE_SCHEDULE_EXPRESSION: 'every 15 minutes' }, /PIPELINE_SCHEDULE_EXPRESSION \(cdktf.json context "scheduleExpression"\) must be an EventBridge Scheduler expression/],
    [{ PIPELINE_SCHEDULE_ENABLED: 'yes' }, /PIPELINE_SCHEDULE_ENABLED .* must be true or false, not "yes"/],
    [{ PIPELINE_VERIFY_SCHEDULE_EXPRESSION: 'daily' }, /PIPELINE_VERIFY_SCHEDULE_EXPRESSION \(cdktf.json context "verifyScheduleExpression"\) must be an EventBridge Scheduler expression/],
    [{ PIPELINE_VERIFY_SCHEDULE_ENABLED: 'on' }, /PIPELINE_VERIFY_SCHEDULE_ENABLED .* must be true or false, not "on"/],
    [{ PIPELINE_VERIFY_TIMEOUT_SECONDS: '0' }, /PIPELINE_VERIFY_TIMEOUT_SECONDS .* from 1 to 900/],
    [{ PIPELINE_STATE_MACHINE_LOG_LEVEL: 'FATAL' }, /PIPELINE_STATE_MACHINE_LOG_LEVEL .* must be one of ERROR, ALL/],
    [{ PIPELINE_TRANSFORM_MEMORY_MB: '20000' }, /PIPELINE_TRANSFORM_MEMORY_MB .* must be a whole number from 128 to 10240/],
    [{ PIPELINE_LOAD_TIMEOUT_SECONDS: '901' }, /PIPELINE_LOAD_TIMEOUT_SECONDS .* from 1 to 900/],
    [{ PIPELINE_EXTRACT_EPHEMERAL_STORAGE_MB: '256' }, /PIPELINE_EXTRACT_EPHEMERAL_STORAGE_MB .* from 512 to 10240/],
    [{ PIPELINE_MAX_CHANGE_LAG_MINUTES: '10' }, /PIPELINE_MAX_CHANGE_LAG_MINUTES \(cdktf.json context "maxChangeLagMinutes"\) must be a whole number from 15 to 1440, not "10"/],
    [{ PIPELINE_LOG_RETENTION_DAYS: '10' }, /PIPELINE_LOG_RETENTION_DAYS .* must be one of 1, 3, 5, 7, 14, 30/],
    [{ PIPELINE_SUBNET_IDS: 'subnet-01' }, /PIPELINE_SUBNET_IDS .* and PIPELINE_SECURITY_GROUP_IDS .* go together/],
    [{ PIPELINE_SUBNET_IDS: 'my subnet', PIPELINE_SECURITY_GROUP_IDS: 'sg-01' }, /PIPELINE_SUBNET_IDS .* must be comma-separated ids/],
    [{ PIPELINE_ENVIRONMENT: 'Prod' }, /PIPELINE_ENVIRONMENT .* must be lower-case letters and digits, not "Prod"/],
    [{ PIPELINE_NAME_PREFIX: 'a-very-long-name-prefix-for-this', PIPELINE_ENVIRONMENT: 'production' }, /at most 32 characters/],
    [{ PIPELINE_REGION: 'London' }, /PIPELINE_REGION .* must be an AWS region/],
    [{ PIPELINE_ALERT_EMAIL: 'not-an-address' }, /PIPELINE_ALERT_EMAIL .* must be an email address/],
    [{ PIPELINE_STRICT_ROWS: 'yes' }, /PIPELINE_STRICT_ROWS \(cdktf.json context "strictRows"\) must be true or false, not "yes"/],
    [{ PIPELINE_LATEST_DATE: '31/12/2099' }, /PIPELINE_LATEST_DATE \(cdktf.json context "latestDate"\) must be a day as YYYY-MM-DD, got "31\/12\/2099"/],
    [
      { PIPELINE_EARLIEST_DATE: '2030-01-01', PIPELINE_LATEST_DATE: '2029-12-31' },
      /PIPELINE_EARLIEST_DATE \(cdktf.json context "earliestDate"\) \(2030-01-01\) is after PIPELINE_LATEST_DATE \(cdktf.json context "latestDate"\) \(2029-12-31\)/,
    ],
  ])('refuses %o, naming the variable', (env, message) => {
    expect(() => readInfraConfig({ ...email, ...env })).toThrow(message);
  });
});
