import { Testing } from 'cdktf';
import { buildPipelineDefinition } from '../../state-machine/definition';
import { PIPELINE_FUNCTIONS, type PipelineFunctionName } from '../../functions/shared/step-contract';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DIMENSION, METRICS, METRICS_NAMESPACE, ROWS_TABLES } from '../../functions/shared/metrics';
import { TOTESYS_TABLE_NAMES } from '../../functions/shared/totesys-tables';
import { PROJECT_ROOT } from '../../infra/nodejs-function';
import { asList, ref, resourcesOf, resourceWhere, statementsOf, synthesizePipeline, TEST_ENV, type Resource, type SynthesizedPipeline } from './synth';

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
    // PIPELINE_DEPLOYMENT: the Deployment dimension of every metric the function publishes.
    const common = { POWERTOOLS_SERVICE_NAME: 'totesys-pipeline', POWERTOOLS_LOG_LEVEL: 'INFO', NODE_OPTIONS: '--enable-source-maps', PIPELINE_DEPLOYMENT: prefix };
    const variables = (step: string) => (lambdaOf(step).environment as { variables: Record<string, string> }).variables;
    // Encrypted connections, the server's certificate checked against the RDS bundle (docs/database-tls.md).
    const tls = { DATABASE_SSLMODE: 'verify-full' };
    expect(variables('extract')).toEqual({ ...common, INGESTION_BUCKET: ingestion, TOTESYS_SECRET_ID: secret('totesys'), ...tls });
    expect(variables('transform')).toEqual({
      ...common,
      INGESTION_BUCKET: ingestion,
      PROCESSED_BUCKET: processed,
      TRANSFORM_MEMORY_LIMIT_MB: '1804',
      PIPELINE_STRICT_ROWS: 'false',
      PIPELINE_EARLIEST_DATE: '1970-01-01',
      PIPELINE_LATEST_DATE: '2099-12-31',
    });
    expect(variables('load')).toEqual({ ...common, PROCESSED_BUCKET: processed, WAREHOUSE_SECRET_ID: secret('warehouse'), LOAD_MEMORY_LIMIT_MB: '1228', ...tls });
    expect(variables('verify')).toEqual({ ...common, INGESTION_BUCKET: ingestion, TOTESYS_SECRET_ID: secret('totesys'), WAREHOUSE_SECRET_ID: secret('warehouse'), ...tls });
  });

  it('take the TLS settings from the deploy-time settings, checked at synth', () => {
    const lambdaVariables = (tf: typeof synth.tf, step: string) =>
      (resourceWhere(tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`).environment as { variables: Record<string, string> }).variables;
    const custom = synthesizePipeline({ PIPELINE_DATABASE_SSLMODE: 'require', PIPELINE_DATABASE_SSL_ROOT_CERT: 'system' });
    try {
      for (const step of ['extract', 'load', 'verify']) {
        expect(lambdaVariables(custom.tf, step)).toMatchObject({
          DATABASE_SSLMODE: 'require',
          DATABASE_SSL_ROOT_CERT: 'system',
        });
      }
      expect(lambdaVariables(custom.tf, 'transform')).not.toHaveProperty('DATABASE_SSLMODE');
    } finally {
      custom.cleanup();
    }
    expect(() => synthesizePipeline({ PIPELINE_DATABASE_SSLMODE: 'on' })).toThrow(/PIPELINE_DATABASE_SSLMODE/);
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

  it('put in the VPC, when subnets and security groups are configured, the functions that open a database connection, and only those', () => {
    const vpc = synthesizePipeline({ PIPELINE_SUBNET_IDS: 'subnet-0a1,subnet-0b2', PIPELINE_SECURITY_GROUP_IDS: 'sg-0c3' });
    try {
      const lambda = (step: string) => resourceWhere(vpc.tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`);
      for (const step of ['extract', 'load', 'verify']) {
        expect(lambda(step).vpc_config).toEqual({ subnet_ids: ['subnet-0a1', 'subnet-0b2'], security_group_ids: ['sg-0c3'] });
      }
      // Transform reaches only S3: in the VPC it would need a NAT gateway or an endpoint for nothing.
      expect(lambda('transform').vpc_config).toBeUndefined();
      // The same set, read another way: the functions given a database secret to connect with.
      const variables = (step: string) => (lambda(step).environment as { variables: Record<string, string> }).variables;
      const connecting = PIPELINE_FUNCTIONS.filter((step) => Object.keys(variables(step)).some((name) => name.endsWith('_SECRET_ID')));
      expect(PIPELINE_FUNCTIONS.filter((step) => lambda(step).vpc_config !== undefined)).toEqual(connecting);
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

describe('the schedules', () => {
  const schedulerRoleArn = () => ref(resourceWhere(synth.tf, 'aws_iam_role', 'name', `${prefix}-scheduler`), 'arn');
  const deadLetterQueue = () => resourceWhere(synth.tf, 'aws_sqs_queue', 'name', `${prefix}-scheduler-dlq`);
  const group = () => resourceWhere(synth.tf, 'aws_scheduler_schedule_group', 'name', prefix);
  /** What both schedules share: their group, the role, retries, and where a start that keeps failing goes. */
  const delivery = () => ({
    group_name: ref(group(), 'name'),
    target: {
      role_arn: schedulerRoleArn(),
      retry_policy: { maximum_event_age_in_seconds: 300, maximum_retry_attempts: 3 },
      dead_letter_config: { arn: ref(deadLetterQueue(), 'arn') },
    },
  });

  it('start a scheduled run (input {"scheduled": true}) every 15 minutes, through their own role, in their own group', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const schedule = resourceWhere(synth.tf, 'aws_scheduler_schedule', 'name', prefix);
    expect(schedule).toMatchObject({
      schedule_expression: 'rate(15 minutes)',
      state: 'ENABLED',
      flexible_time_window: { mode: 'OFF' },
      target: { arn: ref(machine, 'arn'), input: '{"scheduled":true}' },
    });
    expect(schedule).toMatchObject(delivery());
  });

  it('start a verification (input {"verify": true}) daily at 05:07 UTC, through the same role, group and dead-letter queue', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const verify = resourceWhere(synth.tf, 'aws_scheduler_schedule', 'name', `${prefix}-verify`);
    expect(verify).toMatchObject({
      schedule_expression: 'cron(7 5 * * ? *)',
      state: 'ENABLED',
      flexible_time_window: { mode: 'OFF' },
      target: { arn: ref(machine, 'arn'), input: '{"verify":true}' },
    });
    expect(verify).toMatchObject(delivery());
    expect(resourcesOf(synth.tf, 'aws_scheduler_schedule')).toHaveLength(2);
    expect(resourcesOf(synth.tf, 'aws_scheduler_schedule_group')).toHaveLength(1);
  });

  it('put a start they could not make into an encrypted queue that keeps it 14 days', () => {
    expect(resourcesOf(synth.tf, 'aws_sqs_queue')).toHaveLength(1);
    const queue = deadLetterQueue();
    expect(queue).toMatchObject({ sqs_managed_sse_enabled: true, message_retention_seconds: 14 * 24 * 3600 });
    expect(queue.fifo_queue).toBeUndefined();
    const policy = resourceWhere(synth.tf, 'aws_sqs_queue_policy', 'queue_url', ref(queue, 'url'));
    expect(statementsOf(policy.policy)).toEqual([
      {
        Sid: 'OnlyTheSchedulerSends',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: ref(queue, 'arn'),
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': schedulerRoleArn() } },
      },
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:*',
        Resource: ref(queue, 'arn'),
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ]);
  });

  it('take the verification’s expression and state from its own settings', () => {
    const weekly = synthesizePipeline({ PIPELINE_VERIFY_SCHEDULE_EXPRESSION: 'cron(30 6 ? * MON *)', PIPELINE_VERIFY_SCHEDULE_ENABLED: 'false' });
    try {
      expect(resourceWhere(weekly.tf, 'aws_scheduler_schedule', 'name', `${prefix}-verify`)).toMatchObject({ schedule_expression: 'cron(30 6 ? * MON *)', state: 'DISABLED' });
      expect(resourceWhere(weekly.tf, 'aws_scheduler_schedule', 'name', prefix)).toMatchObject({ schedule_expression: 'rate(15 minutes)', state: 'ENABLED' });
    } finally {
      weekly.cleanup();
    }
  });

  it('take the run schedule’s expression and state from the configuration, and the alarms their periods from it', () => {
    const hourly = synthesizePipeline({ PIPELINE_SCHEDULE_EXPRESSION: 'cron(0 * * * ? *)', PIPELINE_SCHEDULE_ENABLED: 'false' });
    try {
      expect(resourceWhere(hourly.tf, 'aws_scheduler_schedule', 'name', prefix)).toMatchObject({ schedule_expression: 'cron(0 * * * ? *)', state: 'DISABLED' });
      // Nothing runs on purpose: the "no success" alarm stays quiet.
      const stale = resourceWhere(hourly.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-no-successful-execution`);
      expect(stale.actions_enabled).toBe(false);
      // One point per run: the quarantine and freshness alarms' period follows the schedule.
      expect(resourceWhere(hourly.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-quarantined-rows`).period).toBe(3600);
      expect(resourceWhere(hourly.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-freshness`).period).toBe(3600);
    } finally {
      hourly.cleanup();
    }
  });
});

describe('the metrics', () => {
  // The contract docs/deploy.md states: what the functions publish, and the alarms and the dashboard read.
  it('are published under one namespace, with the deployment as a dimension, by the names the documentation gives', () => {
    expect(METRICS_NAMESPACE).toBe('ToteSysPipeline');
    expect(Object.fromEntries(Object.values(METRICS).map((m) => [m.name, m.dimensions]))).toEqual({
      Rows: ['Deployment', 'Step', 'Table'],
      BatchRows: ['Deployment'],
      DeletedRows: ['Deployment', 'Table'],
      QuarantinedRows: ['Deployment'],
      MismatchedRows: ['Deployment'],
      ChangeLagSeconds: ['Deployment'],
      StepDuration: ['Deployment', 'Step'],
    });
  });

  it('come from the functions’ own output, never from log metric filters on message text', () => {
    expect(resourcesOf(synth.tf, 'aws_cloudwatch_log_metric_filter')).toEqual([]);
    expect(synth.json).not.toMatch(/\$\.message/);
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
  const describesItself = (a: Resource, pattern: RegExp) => {
    expect(a.alarm_description).toMatch(pattern);
    expect(String(a.alarm_description).length).toBeLessThanOrEqual(1024);
  };

  it('counts failed executions for the dashboard without emailing: the state machine has emailed each already', () => {
    const failed = alarm('execution-failed');
    expect(failed).toMatchObject({
      namespace: 'AWS/States',
      metric_name: 'ExecutionsFailed',
      dimensions: { StateMachineArn: machineArn() },
      statistic: 'Sum',
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
    });
    expect(failed.alarm_actions).toBeUndefined();
    expect(failed.ok_actions).toBeUndefined();
    describesItself(failed, /sends no email.*ToteSys pipeline failed at.*mismatched-rows/);
  });

  it('sends no failure email of its own: the state machine’s NotifyFailure state is the one path, and only it publishes on failure', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const states = (JSON.parse(machine.definition as string) as { States: Record<string, { Type: string; Resource?: string; Next?: string }> }).States;
    const publishing = Object.entries(states).filter(([, state]) => state.Resource === 'arn:aws:states:::sns:publish').map(([name]) => name);
    // NotifyFailure for failures, NotifyQuarantine for successful runs with rows held.
    expect(publishing.sort()).toEqual(['NotifyFailure', 'NotifyQuarantine']);
    // The alarms that fire on the same failures send nothing.
    for (const name of ['execution-failed', ...PIPELINE_FUNCTIONS.flatMap((step) => [`${step}-errors`, `${step}-throttles`])]) {
      expect({ name, actions: alarm(name).alarm_actions }).toEqual({ name, actions: undefined });
    }
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

  it('alarms when a verification of this deployment finds rows that differ (MismatchedRows > 0), treating no data as no mismatch', () => {
    const mismatch = alarm('mismatched-rows');
    expect(mismatch).toMatchObject({
      namespace: 'ToteSysPipeline',
      metric_name: 'MismatchedRows',
      dimensions: { Deployment: prefix },
      statistic: 'Maximum',
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
    });
    expect(mismatch.actions_enabled).toBeUndefined();
    describesItself(mismatch, /differ from ToteSys.*WarehouseMismatch.*npm run verify.*docs\/deploy\.md/);
  });

  it('alarms while rows are held in quarantine (QuarantinedRows > 0 over a schedule period), emailing when it fires and when it clears', () => {
    const quarantine = alarm('quarantined-rows');
    expect(quarantine).toMatchObject({
      namespace: 'ToteSysPipeline',
      metric_name: 'QuarantinedRows',
      dimensions: { Deployment: prefix },
      statistic: 'Maximum',
      period: 900,
      evaluation_periods: 1,
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
      ok_actions: [topicArn()],
    });
    describesItself(quarantine, /quarantine.*npm run quarantine.*docs\/quarantine\.md.*ToteSys.*by itself/);
    // Only this alarm reports its return to OK: the others clear silently.
    expect(resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm').filter((a) => a.ok_actions !== undefined).map((a) => a.alarm_name)).toEqual([`${prefix}-quarantined-rows`]);
  });

  it('alarms when the newest change loaded in a schedule period was over 2 hours old, treating no load as no news', () => {
    const freshness = alarm('freshness');
    expect(freshness).toMatchObject({
      namespace: 'ToteSysPipeline',
      metric_name: 'ChangeLagSeconds',
      dimensions: { Deployment: prefix },
      // The freshest batch of the period: a catch-up that loads old batches first does not fire it.
      statistic: 'Minimum',
      period: 900,
      evaluation_periods: 1,
      threshold: 2 * 3600,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
    });
    describesItself(freshness, /behind ToteSys.*quiet ToteSys.*docs\/deploy\.md/);
    const strict = synthesizePipeline({ PIPELINE_MAX_CHANGE_LAG_MINUTES: '45' });
    try {
      expect(resourceWhere(strict.tf, 'aws_cloudwatch_metric_alarm', 'alarm_name', `${prefix}-freshness`).threshold).toBe(45 * 60);
    } finally {
      strict.cleanup();
    }
  });

  it('alarms when the scheduler left a start it could not make in the dead-letter queue, or could not even do that', () => {
    const queue = resourceWhere(synth.tf, 'aws_sqs_queue', 'name', `${prefix}-scheduler-dlq`);
    const waiting = alarm('scheduler-dead-letters');
    expect(waiting).toMatchObject({
      namespace: 'AWS/SQS',
      metric_name: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: ref(queue, 'name') },
      statistic: 'Maximum',
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
    });
    describesItself(waiting, /could not start the state machine.*purge the queue/);
    const lost = alarm('scheduler-dead-letters-lost');
    expect(lost).toMatchObject({
      namespace: 'AWS/Scheduler',
      metric_name: 'InvocationsFailedToBeSentToDeadLetterCount',
      dimensions: { ScheduleGroup: ref(resourceWhere(synth.tf, 'aws_scheduler_schedule_group', 'name', prefix), 'name') },
      statistic: 'Sum',
      threshold: 0,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
    });
    describesItself(lost, /scheduler role/);
  });

  it.each(PIPELINE_FUNCTIONS)('watches the %s function’s errors and throttles silently, and emails when a successful run nears its timeout', (step) => {
    const dimensions = { FunctionName: ref(lambdaOf(step), 'function_name') };
    const lambdaAlarm = { namespace: 'AWS/Lambda', dimensions, comparison_operator: 'GreaterThanThreshold', threshold: 0, statistic: 'Sum' };
    expect(alarm(`${step}-errors`)).toMatchObject({ ...lambdaAlarm, metric_name: 'Errors' });
    expect(alarm(`${step}-throttles`)).toMatchObject({ ...lambdaAlarm, metric_name: 'Throttles' });
    for (const silent of [`${step}-errors`, `${step}-throttles`]) {
      expect(alarm(silent).alarm_actions).toBeUndefined();
      describesItself(alarm(silent), /sends no email/);
    }
    // From the step's own StepDuration, which a failed (or timed-out) invocation never publishes.
    const duration = alarm(`${step}-duration-near-timeout`);
    expect(duration).toMatchObject({
      namespace: 'ToteSysPipeline',
      metric_name: 'StepDuration',
      dimensions: { Deployment: prefix, Step: step },
      statistic: 'Maximum',
      threshold: 900 * 1000 * 0.8,
      comparison_operator: 'GreaterThanThreshold',
      treat_missing_data: 'notBreaching',
      alarm_actions: [topicArn()],
    });
    describesItself(duration, new RegExp(`succeeded.*PIPELINE_${step.toUpperCase()}_MEMORY_MB`));
  });

  it('emails from exactly the alarms that mean something no failure email says', () => {
    const alarms = resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm');
    expect(alarms).toHaveLength(7 + 3 * PIPELINE_FUNCTIONS.length);
    const emailing = alarms.filter((a) => a.alarm_actions !== undefined).map((a) => String(a.alarm_name).slice(prefix.length + 1));
    expect(emailing.sort()).toEqual(
      [
        'no-successful-execution',
        'mismatched-rows',
        'quarantined-rows',
        'freshness',
        'scheduler-dead-letters',
        'scheduler-dead-letters-lost',
        ...PIPELINE_FUNCTIONS.map((step) => `${step}-duration-near-timeout`),
      ].sort(),
    );
    for (const a of alarms.filter((a) => a.alarm_actions !== undefined)) expect(a.alarm_actions).toEqual([topicArn()]);
  });
});

describe('the dashboard', () => {
  type Widget = { type: string; x: number; y: number; width: number; height: number; properties: Record<string, unknown> };
  type MetricKey = keyof typeof METRICS;
  const deployment = () => synth.config.resourcePrefix;
  const widgets = () => {
    const dashboard = resourceWhere(synth.tf, 'aws_cloudwatch_dashboard', 'dashboard_name', deployment());
    return (JSON.parse(dashboard.dashboard_body as string) as { widgets: Widget[] }).widgets;
  };
  const byTitle = () => new Map(widgets().map((w) => [String(w.properties.title ?? w.type), w]));
  const linesOf = (title: string) => {
    const widget = byTitle().get(title);
    if (!widget) throw new Error(`No widget titled ${title}`);
    return widget.properties.metrics as unknown[][];
  };
  /** A metric line without its options: namespace, name, then dimension names and values. */
  const identity = (line: unknown[]) => line.filter((part) => typeof part === 'string');

  /** One line a widget draws: the metric, its dimensions as the line names them, and the line's options. */
  interface Line {
    readonly widget: Widget;
    readonly namespace: string;
    readonly name: string;
    readonly dimensions: readonly (readonly [string, string])[];
    readonly stat: unknown;
  }
  const lines = (from: Widget[] = widgets()): Line[] =>
    from
      .filter((widget) => widget.type === 'metric')
      .flatMap((widget) =>
        (widget.properties.metrics as unknown[][]).map((line) => {
          const [namespace = '', name = '', ...rest] = identity(line) as string[];
          const options = line.find((part) => typeof part === 'object' && part !== null) as { stat?: unknown } | undefined;
          return { widget, namespace, name, dimensions: rest.flatMap((part, i) => (i % 2 === 0 ? [[part, rest[i + 1]!] as const] : [])), stat: options?.stat };
        }),
      );
  const keyOf = (name: string) => (Object.keys(METRICS) as MetricKey[]).find((key) => METRICS[key].name === name);

  /**
   * What each function publishes, read from its code: the StepMetrics methods (named as METRICS'
   * keys) its handler calls, and those observeStep (step-logger.ts) calls for every handler that uses it.
   */
  const published = Object.fromEntries(
    PIPELINE_FUNCTIONS.map((step) => {
      const source = (file: string) => readFileSync(path.join(PROJECT_ROOT, 'functions', file), 'utf-8');
      const calls = (code: string) => (Object.keys(METRICS) as MetricKey[]).filter((key) => new RegExp(`\\bmetrics\\.${key}\\(`).test(code));
      const handler = source(`${step}/handler.ts`);
      return [step, new Set([...calls(handler), ...(handler.includes('observeStep(') ? calls(source('shared/step-logger.ts')) : [])])];
    }),
  ) as Record<PipelineFunctionName, Set<MetricKey>>;
  /** The `Table` values a function publishes a metric for. */
  const tablesOf = (key: MetricKey, step: PipelineFunctionName): readonly string[] =>
    key === 'rows' && step !== 'verify' ? ROWS_TABLES[step] : key === 'deletedRows' ? TOTESYS_TABLE_NAMES : [];

  it('reads the functions’ code: every metric defined is published, by the functions the dashboard expects', () => {
    const publishers = (key: MetricKey) => PIPELINE_FUNCTIONS.filter((step) => published[step].has(key));
    for (const key of Object.keys(METRICS) as MetricKey[]) expect({ key, publishers: publishers(key).length > 0 }).toEqual({ key, publishers: true });
    // Every function reports its duration (the duration alarms need it), and the steps their rows.
    expect(publishers('stepDuration')).toEqual(PIPELINE_FUNCTIONS);
    expect(publishers('rows')).toEqual(Object.keys(ROWS_TABLES));
  });

  it('graphs only metrics functions/shared/metrics.ts defines, by their dimensions, for this deployment, as the functions publish them', () => {
    const ours = lines().filter((line) => line.namespace === METRICS_NAMESPACE);
    expect(ours.length).toBeGreaterThan(0);
    for (const line of ours) {
      const key = keyOf(line.name);
      expect({ metric: line.name, defined: key !== undefined }).toEqual({ metric: line.name, defined: true });
      const definition = METRICS[key!];
      expect({ metric: line.name, dimensions: line.dimensions.map(([name]) => name) }).toEqual({ metric: line.name, dimensions: definition.dimensions });
      const value = Object.fromEntries(line.dimensions);
      expect(value[DIMENSION.deployment]).toBe(deployment());
      const steps = DIMENSION.step in value ? [value[DIMENSION.step] as PipelineFunctionName] : PIPELINE_FUNCTIONS;
      expect({ metric: line.name, step: value[DIMENSION.step], publishedBy: steps.some((step) => published[step]?.has(key!)) }).toEqual({
        metric: line.name,
        step: value[DIMENSION.step],
        publishedBy: true,
      });
      if (DIMENSION.table in value) expect(steps.flatMap((step) => tablesOf(key!, step))).toContain(value[DIMENSION.table]);
    }
  });

  it('graphs every metric each function publishes: for each of its steps, and for each table it publishes', () => {
    const drawn = new Set(lines().map((line) => JSON.stringify([line.namespace, line.name, ...line.dimensions.flat()])));
    const missing: string[] = [];
    for (const step of PIPELINE_FUNCTIONS) {
      for (const key of published[step]) {
        const definition = METRICS[key];
        const tables = (definition.dimensions as readonly string[]).includes(DIMENSION.table) ? tablesOf(key, step) : [undefined];
        expect(tables.length).toBeGreaterThan(0);
        for (const table of tables) {
          const given: Record<string, string | undefined> = { [DIMENSION.deployment]: deployment(), [DIMENSION.step]: step, [DIMENSION.table]: table };
          const line = JSON.stringify([METRICS_NAMESPACE, definition.name, ...definition.dimensions.flatMap((name) => [name, given[name]])]);
          if (!drawn.has(line)) missing.push(`${step} ${definition.name}${table ? ` ${table}` : ''}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('alarms on the pipeline’s metrics by their definitions, for this deployment, on what the functions publish', () => {
    const alarms = resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm').filter((a) => a.namespace === METRICS_NAMESPACE);
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      const key = keyOf(String(alarm.metric_name));
      expect({ alarm: alarm.alarm_name, defined: key !== undefined }).toEqual({ alarm: alarm.alarm_name, defined: true });
      const dimensions = alarm.dimensions as Record<string, string>;
      expect(Object.keys(dimensions).sort()).toEqual([...METRICS[key!].dimensions].sort());
      expect(dimensions[DIMENSION.deployment]).toBe(deployment());
      const steps = DIMENSION.step in dimensions ? [dimensions[DIMENSION.step] as PipelineFunctionName] : PIPELINE_FUNCTIONS;
      expect(steps.some((step) => published[step]?.has(key!))).toBe(true);
    }
  });

  it('draws each alarm’s threshold, and the statistic it reads, on the widgets of its metric; and no threshold line of no alarm', () => {
    const alarms = resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm');
    const sameMetric = (line: Line, alarm: Resource) =>
      line.namespace === alarm.namespace &&
      line.name === alarm.metric_name &&
      JSON.stringify(Object.fromEntries([...line.dimensions].sort())) === JSON.stringify(Object.fromEntries(Object.entries(alarm.dimensions as object).sort()));
    const thresholdLines = (widget: Widget) => ((widget.properties.annotations as { horizontal?: { value: number }[] } | undefined)?.horizontal ?? []).map((a) => a.value);
    const all = widgets();
    let drawnThresholds = 0;
    for (const widget of all.filter((w) => thresholdLines(w).length > 0)) {
      const widgetLines = lines(all).filter((line) => line.widget === widget);
      const watching = alarms.filter((alarm) => widgetLines.some((line) => sameMetric(line, alarm)));
      expect({ widget: widget.properties.title, alarms: watching.length > 0 }).toEqual({ widget: widget.properties.title, alarms: true });
      for (const alarm of watching) {
        expect(thresholdLines(widget)).toContain(alarm.threshold);
        expect(widgetLines.filter((line) => sameMetric(line, alarm)).map((line) => line.stat)).toContain(alarm.statistic);
        drawnThresholds += 1;
      }
    }
    // The verification, the quarantine, the freshness and the dead-letter queue.
    expect(drawnThresholds).toBeGreaterThanOrEqual(4);
  });

  it('has the alarms docs/deploy.md’s alarm table lists, emailing as it says, each on the metric and threshold it names', () => {
    const table = readFileSync(path.join(PROJECT_ROOT, 'docs', 'deploy.md'), 'utf-8')
      .split('## When an alarm fires')[1]!
      .split('\n## ')[0]!
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split('|').map((cell) => cell.trim()).slice(1, -1));
    expect(table.length).toBeGreaterThan(5);
    const topic = ref(resourceWhere(synth.tf, 'aws_sns_topic', 'name', `${deployment()}-alerts`), 'arn');
    const alarms = new Map(resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm').map((a) => [String(a.alarm_name), a]));
    const documented: string[] = [];
    for (const [name = '', emails = '', means = ''] of table) {
      const template = /^`(.+)`$/.exec(name)![1]!.replace('<prefix>', deployment());
      const names = template.includes('<function>') ? PIPELINE_FUNCTIONS.map((step) => template.replace('<function>', step)) : [template];
      for (const alarmName of names) {
        documented.push(alarmName);
        const alarm = alarms.get(alarmName);
        if (!alarm) continue;
        expect({ alarmName, emails: alarm.alarm_actions, ok: alarm.ok_actions }).toEqual({
          alarmName,
          emails: emails.startsWith('yes') ? [topic] : undefined,
          ok: /\bOK\b/.test(emails) ? [topic] : undefined,
        });
        // The metric the row names (`MismatchedRows`, `ExecutionsFailed`), if it names one.
        const metrics = [...means.matchAll(/`([A-Z][a-z]+(?:[A-Z][a-z]*)+)`/g)].map((m) => m[1]);
        if (metrics.length > 0) expect({ alarmName, metrics }).toEqual({ alarmName, metrics: [alarm.metric_name] });
        if (keyOf(String(alarm.metric_name))) expect(alarm.namespace).toBe(METRICS_NAMESPACE);
        if (/` > 0\b/.test(means)) expect({ alarmName, threshold: alarm.threshold, comparison: alarm.comparison_operator }).toEqual({ alarmName, threshold: 0, comparison: 'GreaterThanThreshold' });
        if (/\bminimum over\b/.test(means)) expect(alarm.statistic).toBe('Minimum');
        const share = /more than (\d+)% of its timeout/.exec(means)?.[1];
        if (share) {
          const step = PIPELINE_FUNCTIONS.find((s) => alarmName === `${deployment()}-${s}-duration-near-timeout`)!;
          expect(alarm.threshold).toBe((Number(share) / 100) * Number(lambdaOf(step).timeout) * 1000);
        }
      }
    }
    expect([...alarms.keys()].sort()).toEqual(documented.sort());
  });

  it('shows the AWS side: executions, execution time, function errors and throttles, the schedules and their dead-letter queue, and every alarm', () => {
    const text = (title: string) => JSON.stringify(linesOf(title));
    expect(text('Executions')).toEqual(expect.stringContaining('ExecutionsStarted'));
    expect(text('Executions')).toEqual(expect.stringContaining('ExecutionsSucceeded'));
    expect(text('Executions')).toEqual(expect.stringContaining('ExecutionsFailed'));
    expect(text('Execution time (ms)')).toEqual(expect.stringContaining('ExecutionTime'));
    for (const step of PIPELINE_FUNCTIONS) expect(text('Step errors and throttles')).toEqual(expect.stringContaining(ref(lambdaOf(step), 'function_name')));
    const group = ref(resourceWhere(synth.tf, 'aws_scheduler_schedule_group', 'name', deployment()), 'name');
    expect(linesOf('Schedules: starts and failed starts').map(identity)).toEqual(
      ['InvocationAttemptCount', 'TargetErrorCount', 'InvocationsSentToDeadLetterCount', 'InvocationsFailedToBeSentToDeadLetterCount'].map((name) => [
        'AWS/Scheduler',
        name,
        'ScheduleGroup',
        group,
      ]),
    );
    const queue = resourceWhere(synth.tf, 'aws_sqs_queue', 'name', `${deployment()}-scheduler-dlq`);
    expect(linesOf('Scheduler dead-letter queue: messages waiting').map(identity)).toEqual([['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', ref(queue, 'name')]]);
    const alarms = byTitle().get('Alarms')!;
    expect(alarms.type).toBe('alarm');
    expect(asList(alarms.properties.alarms as string[]).sort()).toEqual(resourcesOf(synth.tf, 'aws_cloudwatch_metric_alarm').map((a) => ref(a, 'arn')).sort());
  });

  it('lays its widgets on the 24-column grid without overlaps, the two counts of rows the warehouse lacks or gets wrong side by side', () => {
    const all = widgets();
    for (const w of all) expect(w.x + w.width).toBeLessThanOrEqual(24);
    const overlaps = (a: Widget, b: Widget) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
    const overlapping = all.flatMap((a, i) => all.slice(i + 1).filter((b) => overlaps(a, b)).map((b) => `${a.properties.title} / ${b.properties.title}`));
    expect(overlapping).toEqual([]);
    const widgetOf = (metric: string) => lines(all).find((line) => line.namespace === METRICS_NAMESPACE && line.name === metric)!.widget;
    const mismatched = widgetOf(METRICS.mismatchedRows.name);
    const quarantined = widgetOf(METRICS.quarantinedRows.name);
    expect({ x: quarantined.x, y: quarantined.y, width: quarantined.width }).toEqual({ x: mismatched.x + mismatched.width, y: mismatched.y, width: mismatched.width });
  });
});
