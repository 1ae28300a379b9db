import { Testing } from 'cdktf';
import { buildPipelineDefinition, PIPELINE_FUNCTIONS } from '../../state-machine/definition';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../../infra/nodejs-function';
import { asList, ref, resourcesOf, resourceWhere, synthesizePipeline, TEST_ENV, type Resource, type SynthesizedPipeline } from './synth';

let synth: SynthesizedPipeline;
beforeAll(() => {
  synth = synthesizePipeline();
});
afterAll(() => synth?.cleanup());

const prefix = 'totesys-pipeline-dev';
const lambdaOf = (step: string) => resourceWhere(synth.tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`);
const bucketNamed = (kind: 'ingestion' | 'processed') =>
  resourcesOf(synth.tf, 'aws_s3_bucket').find((b) => String(b.bucket).startsWith(`${prefix}-${kind}-`))!;
const forBucket = (type: string, bucket: Resource) => resourceWhere(synth.tf, type, 'bucket', ref(bucket, 'id'));

describe('the stack', () => {
  it('pins the AWS provider that the offline mirror holds, in the configured region, with local state by default', () => {
    expect(synth.tf.terraform.required_providers).toEqual({ aws: { source: 'aws', version: '5.100.0' } });
    expect(Testing.toHaveProviderWithProperties(synth.json, 'aws', { region: 'eu-west-2' })).toBe(true);
    expect(Object.keys(synth.tf.terraform.backend ?? {})).toEqual(['local']);
    expect(String(synth.tf.terraform.backend?.local?.path)).toMatch(/terraform\.totesys-pipeline-dev\.tfstate$/);
  });

  it('uses an S3 backend when a state bucket is configured', () => {
    const s3 = synthesizePipeline({ PIPELINE_STATE_BUCKET: 'acme-terraform-state', PIPELINE_ENVIRONMENT: 'prod' });
    try {
      expect(s3.tf.terraform.backend).toEqual({
        s3: { bucket: 'acme-terraform-state', key: 'totesys-pipeline-prod/terraform.tfstate', region: 'eu-west-2', encrypt: true, use_lockfile: true },
      });
    } finally {
      s3.cleanup();
    }
  });
});

describe('storage', () => {
  it.each(['ingestion', 'processed'] as const)('the %s bucket is versioned, encrypted, private and expires what no one reads', (kind) => {
    const bucket = bucketNamed(kind);
    const [caller] = Object.keys(synth.tf.data.aws_caller_identity ?? {});
    expect(bucket.bucket).toBe(`${prefix}-${kind}-\${data.aws_caller_identity.${caller}.account_id}`);
    expect(bucket.force_destroy).toBe(false);
    expect(forBucket('aws_s3_bucket_versioning', bucket).versioning_configuration).toEqual({ status: 'Enabled' });
    expect(forBucket('aws_s3_bucket_server_side_encryption_configuration', bucket).rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' } },
    ]);
    expect(forBucket('aws_s3_bucket_public_access_block', bucket)).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(forBucket('aws_s3_bucket_ownership_controls', bucket).rule).toEqual({ object_ownership: 'BucketOwnerEnforced' });
    const rules = forBucket('aws_s3_bucket_lifecycle_configuration', bucket).rule as Record<string, unknown>[];
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ status: 'Enabled', noncurrent_version_expiration: [{ noncurrent_days: 30 }] }),
        expect.objectContaining({ status: 'Enabled', abort_incomplete_multipart_upload: [{ days_after_initiation: 2 }] }),
      ]),
    );
    expect(forBucket('aws_s3_bucket_policy', bucket)).toBeDefined();
  });

  it('has exactly the two lake buckets', () => {
    expect(resourcesOf(synth.tf, 'aws_s3_bucket')).toHaveLength(2);
  });
});

describe('the functions', () => {
  it.each(PIPELINE_FUNCTIONS)('%s runs on nodejs22.x x86_64 from its zip, traced, in its own log group', (step) => {
    const lambda = lambdaOf(step);
    const sizing = synth.config.functions[step];
    expect(lambda).toMatchObject({
      runtime: 'nodejs22.x',
      architectures: ['x86_64'],
      handler: 'index.handler',
      memory_size: sizing.memoryMb,
      timeout: sizing.timeoutSeconds,
      ephemeral_storage: { size: sizing.ephemeralStorageMb },
      tracing_config: { mode: 'Active' },
    });
    expect(lambda.filename).toMatch(new RegExp(`^assets/functions_${step}-package_zip_[0-9A-F]+/[0-9a-f]{32}/${step}\\.zip$`));
    expect(lambda.source_code_hash).toBe(synth.stack.functions.steps[step].package.codeSha256);
    const logGroup = resourceWhere(synth.tf, 'aws_cloudwatch_log_group', 'name', `/aws/lambda/${prefix}-${step}`);
    expect(logGroup.retention_in_days).toBe(30);
    expect(lambda.logging_config).toEqual({ log_format: 'Text', log_group: ref(logGroup, 'name') });
    expect(lambda.role).toBe(ref(resourceWhere(synth.tf, 'aws_iam_role', 'name', `${prefix}-${step}`), 'arn'));
    expect(lambda.vpc_config).toBeUndefined();
  });

  it('are sized for scale 100 by default', () => {
    expect(lambdaOf('transform')).toMatchObject({ memory_size: 3008, timeout: 900, ephemeral_storage: { size: 4096 } });
    for (const step of ['extract', 'load', 'verify']) {
      expect(lambdaOf(step).memory_size).toBeGreaterThanOrEqual(1024);
      expect(lambdaOf(step).memory_size).toBeLessThanOrEqual(2048);
    }
    // Verify writes no files.
    expect(lambdaOf('verify').ephemeral_storage).toEqual({ size: 512 });
  });

  it('size the verify function from its own settings', () => {
    const sized = synthesizePipeline({ PIPELINE_VERIFY_MEMORY_MB: '3008', PIPELINE_VERIFY_TIMEOUT_SECONDS: '600' });
    try {
      expect(resourceWhere(sized.tf, 'aws_lambda_function', 'function_name', `${prefix}-verify`)).toMatchObject({ memory_size: 3008, timeout: 600 });
    } finally {
      sized.cleanup();
    }
  });

  it('get only their own settings', () => {
    const ingestion = ref(bucketNamed('ingestion'), 'bucket');
    const processed = ref(bucketNamed('processed'), 'bucket');
    const secret = (id: string) => ref(resourceWhere(synth.tf, 'aws_secretsmanager_secret', 'name', `${prefix}/${id}`), 'arn');
    const common = { POWERTOOLS_SERVICE_NAME: 'totesys-pipeline', POWERTOOLS_LOG_LEVEL: 'INFO', NODE_OPTIONS: '--enable-source-maps' };
    const variables = (step: string) => (lambdaOf(step).environment as { variables: Record<string, string> }).variables;
    expect(variables('extract')).toEqual({ ...common, INGESTION_BUCKET: ingestion, TOTESYS_SECRET_ID: secret('totesys') });
    expect(variables('transform')).toEqual({
      ...common,
      INGESTION_BUCKET: ingestion,
      PROCESSED_BUCKET: processed,
      TRANSFORM_MEMORY_LIMIT_MB: '1804',
      PIPELINE_STRICT_ROWS: 'false',
      PIPELINE_EARLIEST_DATE: '1970-01-01',
      PIPELINE_LATEST_DATE: '2099-12-31',
    });
    expect(variables('load')).toEqual({ ...common, PROCESSED_BUCKET: processed, WAREHOUSE_SECRET_ID: secret('warehouse'), LOAD_MEMORY_LIMIT_MB: '1228' });
    expect(variables('verify')).toEqual({ ...common, INGESTION_BUCKET: ingestion, TOTESYS_SECRET_ID: secret('totesys'), WAREHOUSE_SECRET_ID: secret('warehouse') });
  });

  it('give Transform the row policy of the deploy-time settings, and no other function', () => {
    const strict = synthesizePipeline({ PIPELINE_STRICT_ROWS: '1', PIPELINE_EARLIEST_DATE: '2000-01-01', PIPELINE_LATEST_DATE: '2040-12-31' });
    try {
      const variables = (step: string) =>
        (resourceWhere(strict.tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`).environment as { variables: Record<string, string> }).variables;
      expect(variables('transform')).toMatchObject({ PIPELINE_STRICT_ROWS: 'true', PIPELINE_EARLIEST_DATE: '2000-01-01', PIPELINE_LATEST_DATE: '2040-12-31' });
      for (const step of ['extract', 'load', 'verify']) expect(Object.keys(variables(step)).filter((name) => /ROWS|_DATE$/.test(name))).toEqual([]);
    } finally {
      strict.cleanup();
    }
  });

  it('fail the synth on a row policy Transform would refuse, naming the variable', () => {
    const message = 'PIPELINE_LATEST_DATE (cdktf.json context "latestDate") must be a day as YYYY-MM-DD, got "2099-13-01"';
    expect(() => synthesizePipeline({ PIPELINE_LATEST_DATE: '2099-13-01' })).toThrow(message);
    // As `cdktf synth` runs the app: it exits 1 with the message alone.
    const work = mkdtempSync(path.join(tmpdir(), 'totesys-synth-'));
    try {
      const run = spawnSync(path.join(PROJECT_ROOT, 'node_modules/.bin/tsx'), [path.join(PROJECT_ROOT, 'infra/main.ts')], {
        cwd: work,
        env: { ...process.env, ...TEST_ENV, PIPELINE_LATEST_DATE: '2099-13-01' },
        encoding: 'utf-8',
      });
      expect({ status: run.status, stderr: run.stderr.trim() }).toEqual({ status: 1, stderr: `Configuration: ${message}` });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('ship the SQL they read at run time next to index.js', () => {
    const transform = synth.stack.functions.steps.transform.package;
    const load = synth.stack.functions.steps.load.package;
    expect(readdirSync(path.join(transform.dir, 'models')).sort()).toEqual(readdirSync(path.join(PROJECT_ROOT, 'functions/transform/models')).sort());
    expect(readdirSync(path.join(load.dir, 'migrations')).sort()).toEqual(readdirSync(path.join(PROJECT_ROOT, 'functions/load/migrations')).sort());
    expect(synth.stack.functions.steps.extract.package.shippedPackages).toEqual([]);
    // Verify needs no DuckDB.
    expect(synth.stack.functions.steps.verify.package.shippedPackages).toEqual([]);
  });

  it('join the VPC when subnets and security groups are configured', () => {
    const vpc = synthesizePipeline({ PIPELINE_SUBNET_IDS: 'subnet-0a1,subnet-0b2', PIPELINE_SECURITY_GROUP_IDS: 'sg-0c3' });
    try {
      for (const step of PIPELINE_FUNCTIONS) {
        const lambda = resourceWhere(vpc.tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`);
        expect(lambda.vpc_config).toEqual({ subnet_ids: ['subnet-0a1', 'subnet-0b2'], security_group_ids: ['sg-0c3'] });
      }
    } finally {
      vpc.cleanup();
    }
  });
});

describe('secrets', () => {
  it('are created empty for ToteSys and the warehouse', () => {
    expect(resourcesOf(synth.tf, 'aws_secretsmanager_secret').map((s) => s.name)).toHaveLength(2);
    for (const id of ['totesys', 'warehouse']) {
      const secret = resourceWhere(synth.tf, 'aws_secretsmanager_secret', 'name', `${prefix}/${id}`);
      expect(secret.recovery_window_in_days).toBe(30);
      expect(secret.description).toMatch(/"username","password","host","port","dbname"/);
    }
    expect(synth.tf.resource.aws_secretsmanager_secret_version).toBeUndefined();
  });

  it('are referenced by name when configured', () => {
    const existing = synthesizePipeline({ PIPELINE_TOTESYS_SECRET_NAME: 'prod/totesys', PIPELINE_WAREHOUSE_SECRET_NAME: 'prod/warehouse' });
    try {
      expect(existing.tf.resource.aws_secretsmanager_secret).toBeUndefined();
      const data = Object.entries(existing.tf.data.aws_secretsmanager_secret ?? {});
      expect(data.map(([, body]) => body.name).sort()).toEqual(['prod/totesys', 'prod/warehouse']);
      const extract = resourceWhere(existing.tf, 'aws_lambda_function', 'function_name', `${prefix}-extract`);
      const [totesysName] = data.find(([, body]) => body.name === 'prod/totesys')!;
      expect((extract.environment as { variables: Record<string, string> }).variables.TOTESYS_SECRET_ID).toBe(
        `\${data.aws_secretsmanager_secret.${totesysName}.arn}`,
      );
    } finally {
      existing.cleanup();
    }
  });
});

describe('the state machine', () => {
  it('is a Standard workflow running exactly buildPipelineDefinition for the real functions and topic', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const topic = resourceWhere(synth.tf, 'aws_sns_topic', 'name', `${prefix}-alerts`);
    expect(machine.type).toBe('STANDARD');
    expect(machine.definition).toBe(
      JSON.stringify(
        buildPipelineDefinition({
          extractFunctionArn: ref(lambdaOf('extract'), 'arn'),
          transformFunctionArn: ref(lambdaOf('transform'), 'arn'),
          loadFunctionArn: ref(lambdaOf('load'), 'arn'),
          verifyFunctionArn: ref(lambdaOf('verify'), 'arn'),
          alertTopicArn: ref(topic, 'arn'),
          timeoutSeconds: { extract: 960, transform: 960, load: 960, verify: 960 },
        }),
      ),
    );
  });

  it('gives every Task a Retry and a Catch', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const states = Object.entries((JSON.parse(machine.definition as string) as { States: Record<string, Record<string, unknown>> }).States);
    const tasks = states.filter(([, state]) => state.Type === 'Task');
    expect(tasks.map(([name]) => name).sort()).toEqual(['CheckForRunningExecutions', 'Extract', 'Load', 'NotifyFailure', 'NotifyQuarantine', 'Transform', 'Verify']);
    for (const [name, task] of tasks) {
      expect({ name, retry: (task.Retry as unknown[]).length > 0, catch: (task.Catch as unknown[]).length > 0 }).toEqual({ name, retry: true, catch: true });
    }
  });

  it('logs executions (ERROR by default, with execution data) and is traced by X-Ray', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const logGroup = resourceWhere(synth.tf, 'aws_cloudwatch_log_group', 'name', `/aws/vendedlogs/states/${prefix}`);
    expect(machine.logging_configuration).toEqual({ level: 'ERROR', include_execution_data: true, log_destination: `${ref(logGroup, 'arn')}:*` });
    expect(machine.tracing_configuration).toEqual({ enabled: true });
    expect(machine.role_arn).toBe(ref(resourceWhere(synth.tf, 'aws_iam_role', 'name', `${prefix}-state-machine`), 'arn'));
  });

  it('logs every event when configured to', () => {
    const all = synthesizePipeline({ PIPELINE_STATE_MACHINE_LOG_LEVEL: 'ALL' });
    try {
      expect(resourceWhere(all.tf, 'aws_sfn_state_machine', 'name', prefix).logging_configuration).toMatchObject({ level: 'ALL' });
    } finally {
      all.cleanup();
    }
  });
});

describe('the schedule', () => {
  it('starts an execution with input {} every 15 minutes, through its own role', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const schedule = resourceWhere(synth.tf, 'aws_scheduler_schedule', 'name', prefix);
    expect(schedule).toMatchObject({
      schedule_expression: 'rate(15 minutes)',
      state: 'ENABLED',
      flexible_time_window: { mode: 'OFF' },
      target: {
        arn: ref(machine, 'arn'),
        input: '{}',
        role_arn: ref(resourceWhere(synth.tf, 'aws_iam_role', 'name', `${prefix}-scheduler`), 'arn'),
      },
    });
  });

  it('starts a verification (input {"verify": true}) daily at 05:00 UTC, through the same role', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    expect(resourceWhere(synth.tf, 'aws_scheduler_schedule', 'name', `${prefix}-verify`)).toMatchObject({
      schedule_expression: 'cron(7 5 * * ? *)',
      state: 'ENABLED',
      flexible_time_window: { mode: 'OFF' },
      target: {
        arn: ref(machine, 'arn'),
        input: '{"verify":true}',
        role_arn: ref(resourceWhere(synth.tf, 'aws_iam_role', 'name', `${prefix}-scheduler`), 'arn'),
        retry_policy: { maximum_event_age_in_seconds: 300, maximum_retry_attempts: 3 },
      },
    });
    expect(resourcesOf(synth.tf, 'aws_scheduler_schedule')).toHaveLength(2);
  });

  it('takes the verification’s expression and state from its own settings', () => {
    const weekly = synthesizePipeline({ PIPELINE_VERIFY_SCHEDULE_EXPRESSION: 'cron(30 6 ? * MON *)', PIPELINE_VERIFY_SCHEDULE_ENABLED: 'false' });
    try {
      expect(resourceWhere(weekly.tf, 'aws_scheduler_schedule', 'name', `${prefix}-verify`)).toMatchObject({ schedule_expression: 'cron(30 6 ? * MON *)', state: 'DISABLED' });
      expect(resourceWhere(weekly.tf, 'aws_scheduler_schedule', 'name', prefix)).toMatchObject({ schedule_expression: 'rate(15 minutes)', state: 'ENABLED' });
    } finally {
      weekly.cleanup();
    }
  });

  it('takes its expression and state from the configuration', () => {
    const hourly = synthesizePipeline({ PIPELINE_SCHEDULE_EXPRESSION: 'cron(0 * * * ? *)', PIPELINE_SCHEDULE_ENABLED: 'false' });
    try {
      expect(resourceWhere(hourly.tf, 'aws_scheduler_schedule', 'name', prefix)).toMatchObject({ schedule_expression: 'cron(0 * * * ? *)', state: 'DISABLED' });
      // Nothing runs on purpose: the "no success" alarm stays quiet.
      const stale = resourceWhere(hourly.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-no-successful-execution`);
      expect(stale.actions_enabled).toBe(false);
      // One point per run: the quarantine alarm's period follows the schedule.
      expect(resourceWhere(hourly.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-quarantined-rows`).period).toBe(3600);
    } finally {
      hourly.cleanup();
    }
  });
});

describe('alerting', () => {
  it('emails the alert topic to the configured address', () => {
    const topic = resourceWhere(synth.tf, 'aws_sns_topic', 'name', `${prefix}-alerts`);
    expect(resourceWhere(synth.tf, 'aws_sns_topic_subscription', 'topic_arn', ref(topic, 'arn'))).toMatchObject({
      protocol: 'email',
      endpoint: 'data-team@example.com',
    });
  });

  const alarm = (name: string) => resourceWhere(synth.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-${name}`);
  const topicArn = () => ref(resourceWhere(synth.tf, 'aws_sns_topic', 'name', `${prefix}-alerts`), 'arn');
  const machineArn = () => ref(resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix), 'arn');

  it('alarms on any failed execution', () => {
    expect(alarm('execution-failed')).toMatchObject({
      namespace: 'AWS/States',
      metric_name: 'ExecutionsFailed',
      dimensions: { StateMachineArn: machineArn() },
      statistic: 'Sum',
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      alarm_actions: [topicArn()],
    });
  });

  it('alarms when no execution has succeeded for 3 hours, counting silence as failure', () => {
    expect(alarm('no-successful-execution')).toMatchObject({
      namespace: 'AWS/States',
      metric_name: 'ExecutionsSucceeded',
      dimensions: { StateMachineArn: machineArn() },
      statistic: 'Sum',
      period: 3600,
      evaluation_periods: 3,
      datapoints_to_alarm: 3,
      threshold: 1,
      comparison_operator: 'LessThanThreshold',
      treat_missing_data: 'breaching',
      actions_enabled: true,
      alarm_actions: [topicArn()],
    });
  });

  it('alarms when a verification finds rows that differ (MismatchedRows > 0), treating no data as no mismatch', () => {
    const mismatch = alarm('mismatched-rows');
    expect(mismatch).toMatchObject({
      namespace: 'ToteSysPipeline',
      metric_name: 'MismatchedRows',
      statistic: 'Maximum',
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
    });
    expect(mismatch.dimensions).toBeUndefined();
    expect(mismatch.actions_enabled).toBeUndefined();
    expect(mismatch.alarm_description).toMatch(/differ from ToteSys.*WarehouseMismatch.*npm run verify.*docs\/deploy\.md/);
    expect(String(mismatch.alarm_description).length).toBeLessThanOrEqual(1024);
  });

  it('alarms while rows are held in quarantine (QuarantinedRows > 0 over a schedule period), emailing when it fires and when it clears', () => {
    const quarantine = alarm('quarantined-rows');
    expect(quarantine).toMatchObject({
      namespace: 'ToteSysPipeline',
      metric_name: 'QuarantinedRows',
      statistic: 'Maximum',
      period: 900,
      evaluation_periods: 1,
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
      ok_actions: [topicArn()],
    });
    expect(quarantine.dimensions).toBeUndefined();
    expect(quarantine.actions_enabled).toBeUndefined();
    expect(quarantine.alarm_description).toMatch(/quarantine.*npm run quarantine.*docs\/quarantine\.md.*ToteSys.*by itself/);
    expect(String(quarantine.alarm_description).length).toBeLessThanOrEqual(1024);
    // Only this alarm reports its return to OK: the others clear silently.
    expect(resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm').filter((a) => a.ok_actions !== undefined).map((a) => a.alarm_name)).toEqual([`${prefix}-quarantined-rows`]);
  });

  it.each(PIPELINE_FUNCTIONS)('alarms on the %s function’s errors, throttles and a duration near its timeout', (step) => {
    const dimensions = { FunctionName: ref(lambdaOf(step), 'function_name') };
    const common = { namespace: 'AWS/Lambda', dimensions, comparison_operator: 'GreaterThanThreshold', alarm_actions: [topicArn()] };
    expect(alarm(`${step}-errors`)).toMatchObject({ ...common, metric_name: 'Errors', statistic: 'Sum', threshold: 0 });
    expect(alarm(`${step}-throttles`)).toMatchObject({ ...common, metric_name: 'Throttles', statistic: 'Sum', threshold: 0 });
    expect(alarm(`${step}-duration-near-timeout`)).toMatchObject({ ...common, metric_name: 'Duration', statistic: 'Maximum', threshold: 900 * 1000 * 0.8 });
  });

  it('sends every alarm to the topic', () => {
    const alarms = resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm');
    expect(alarms).toHaveLength(4 + 3 * PIPELINE_FUNCTIONS.length);
    for (const a of alarms) expect(a.alarm_actions).toEqual([topicArn()]);
  });
});

describe('the dashboard', () => {
  const namespace = 'totesys-pipeline/dev';

  it.each([
    ['extract', 'table extracted', 'RowsExtracted'],
    ['transform', 'table transformed', 'RowsTransformed'],
    ['load', 'table loaded', 'RowsLoaded'],
  ])('counts rows per table from the %s log ("%s")', (step, message, metricName) => {
    const logGroup = resourceWhere(synth.tf, 'aws_cloudwatch_log_group', 'name', `/aws/lambda/${prefix}-${step}`);
    const filter = resourceWhere(synth.tf, 'aws_cloudwatch_log_metric_filter', 'name', `${prefix}-${metricName}`);
    expect(filter).toMatchObject({
      log_group_name: ref(logGroup, 'name'),
      pattern: `{ $.message = "${message}" }`,
      metric_transformation: { namespace, name: metricName, value: '$.rows', dimensions: { table: '$.table' } },
    });
  });

  it('measures freshness from Load’s changeLagSeconds', () => {
    const filter = resourceWhere(synth.tf, 'aws_cloudwatch_log_metric_filter', 'name', `${prefix}-ChangeLagSeconds`);
    expect(filter).toMatchObject({
      pattern: '{ ($.message = "batch loaded") && ($.changeLagSeconds >= 0) }',
      metric_transformation: { namespace, name: 'ChangeLagSeconds', value: '$.changeLagSeconds' },
    });
  });

  it('shows executions, execution time, step duration and errors, rows per table, freshness, mismatched rows, rows in quarantine and the alarms', () => {
    const dashboard = resourceWhere(synth.tf, 'aws_cloudwatch_dashboard', 'dashboard_name', prefix);
    const body = JSON.parse(dashboard.dashboard_body as string) as { widgets: { type: string; properties: Record<string, unknown> }[] };
    const byTitle = new Map(body.widgets.map((w) => [String(w.properties.title ?? w.type), w]));
    const metricsOf = (title: string) => JSON.stringify(byTitle.get(title)?.properties.metrics);
    expect(metricsOf('Executions')).toEqual(expect.stringContaining('ExecutionsStarted'));
    expect(metricsOf('Executions')).toEqual(expect.stringContaining('ExecutionsSucceeded'));
    expect(metricsOf('Executions')).toEqual(expect.stringContaining('ExecutionsFailed'));
    expect(metricsOf('Execution time (ms)')).toEqual(expect.stringContaining('ExecutionTime'));
    for (const step of PIPELINE_FUNCTIONS) {
      expect(metricsOf('Step duration, maximum (ms)')).toEqual(expect.stringContaining(ref(lambdaOf(step), 'function_name')));
      expect(metricsOf('Step errors and throttles')).toEqual(expect.stringContaining(ref(lambdaOf(step), 'function_name')));
    }
    expect(metricsOf('Rows extracted per table')).toContain('MetricName=\\"RowsExtracted\\"');
    expect(metricsOf('Rows transformed per table')).toContain('MetricName=\\"RowsTransformed\\"');
    expect(metricsOf('Rows loaded per table')).toContain('MetricName=\\"RowsLoaded\\"');
    const freshness = [...byTitle.keys()].find((title) => title.startsWith('Freshness'))!;
    expect(metricsOf(freshness)).toContain('ChangeLagSeconds');
    expect(JSON.parse(metricsOf('Verification: warehouse rows that differ from ToteSys'))).toEqual([
      ['ToteSysPipeline', 'MismatchedRows', { stat: 'Maximum', label: 'mismatched rows' }],
    ]);
    expect(JSON.parse(metricsOf('Rows in quarantine'))).toEqual([['ToteSysPipeline', 'QuarantinedRows', { stat: 'Maximum', label: 'held rows' }]]);
    // Side by side: the two counts of rows the warehouse lacks or gets wrong.
    const place = (title: string) => {
      const { x, y, width } = byTitle.get(title) as unknown as { x: number; y: number; width: number };
      return { x, y, width };
    };
    const mismatched = place('Verification: warehouse rows that differ from ToteSys');
    expect(place('Rows in quarantine')).toEqual({ x: mismatched.x + mismatched.width, y: mismatched.y, width: mismatched.width });
    const alarms = byTitle.get('Alarms')!;
    expect(alarms.type).toBe('alarm');
    expect(asList(alarms.properties.alarms as string[])).toHaveLength(resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm').length);
  });
});
