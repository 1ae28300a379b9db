import { manifestKey } from '../../functions/shared/batch-manifests';
import { deletionsObjectKey, ingestionObjectKey, keySetsObjectKey, LAKE_IDENTITY_KEY } from '../../functions/shared/ingestion-manifest';
import { INGESTION_PREFIX, MANIFEST_PREFIX, PROCESSED_PREFIX } from '../../functions/shared/lake-layout';
import { processedDeletionsKey, processedTableKey, sourceStateKey } from '../../functions/shared/processed-manifest';
import { quarantineKey } from '../../functions/shared/quarantine';
import { NOTIFY_QUARANTINE_STATE } from '../../state-machine/definition';
import { PIPELINE_FUNCTIONS } from '../../functions/shared/step-contract';
import { asList, ref, resourcesOf, resourceWhere, statementsOf, synthesizePipeline, type Resource, type Statement, type SynthesizedPipeline } from './synth';

/**
 * The security properties of the synthesized policies, read back from the Terraform JSON: what
 * each role may do, what the bucket policies refuse, and that nothing grants everything.
 */
let synth: SynthesizedPipeline;
beforeAll(() => {
  synth = synthesizePipeline();
});
afterAll(() => synth?.cleanup());

const prefix = 'totesys-pipeline-dev';
const role = (name: string) => resourceWhere(synth.tf, 'aws_iam_role', 'name', `${prefix}-${name}`);
const policyOf = (roleName: string) => statementsOf(resourceWhere(synth.tf, 'aws_iam_role_policy', 'role', ref(role(roleName), 'id')).policy);
const bucket = (kind: 'ingestion' | 'processed') => resourcesOf(synth.tf, 'aws_s3_bucket').find((b) => String(b.bucket).startsWith(`${prefix}-${kind}-`))!;
const bucketArn = (kind: 'ingestion' | 'processed') => ref(bucket(kind), 'arn');
const secretArn = (id: string) => ref(resourceWhere(synth.tf, 'aws_secretsmanager_secret', 'name', `${prefix}/${id}`), 'arn');
const allowed = (statements: Statement[], action: string) =>
  statements.filter((s) => s.Effect === 'Allow' && asList(s.Action).includes(action)).flatMap((s) => asList(s.Resource));
const actionsOf = (statements: Statement[]) => new Set(statements.flatMap((s) => asList(s.Action)));
/** The objects under some prefixes of a bucket, as a policy names them, in order to compare. */
const objectsUnder = (bucket: string, ...prefixes: string[]) => prefixes.map((prefix) => `${bucket}/${prefix}*`).sort();

function everyIdentityPolicy(): { where: string; statements: Statement[] }[] {
  return [
    ...resourcesOf(synth.tf, 'aws_iam_role_policy').map((p) => ({ where: p['@address'], statements: statementsOf(p.policy) })),
    ...resourcesOf(synth.tf, 'aws_iam_role').map((r) => ({ where: r['@address'], statements: statementsOf(r.assume_role_policy) })),
  ];
}

describe('no policy grants everything', () => {
  it('has no Allow of a wildcard action ("*" or "service:*") on resource "*", and no NotAction or NotResource', () => {
    const policies = [
      ...everyIdentityPolicy(),
      ...resourcesOf(synth.tf, 'aws_s3_bucket_policy').map((p) => ({ where: p['@address'], statements: statementsOf(p.policy) })),
      ...resourcesOf(synth.tf, 'aws_sqs_queue_policy').map((p) => ({ where: p['@address'], statements: statementsOf(p.policy) })),
    ];
    expect(policies.length).toBeGreaterThan(0);
    for (const { where, statements } of policies) {
      for (const statement of statements) {
        expect({ where, keys: Object.keys(statement).filter((k) => k.startsWith('Not')) }).toEqual({ where, keys: [] });
        if (statement.Effect !== 'Allow') continue;
        const wildcardActions = asList(statement.Action).filter((a) => a === '*' || a.endsWith(':*'));
        expect({ where, sid: statement.Sid, wildcardActions }).toEqual({ where, sid: statement.Sid, wildcardActions: [] });
      }
    }
  });

  it('allows on resource "*" only the actions AWS accepts no narrower resource for', () => {
    const onAnything = new Set(
      everyIdentityPolicy()
        .flatMap(({ statements }) => statements)
        .filter((s) => s.Effect === 'Allow' && asList(s.Resource).includes('*'))
        .flatMap((s) => asList(s.Action)),
    );
    // Stated here from AWS's documentation, not read from the code that grants them, so that a
    // grant added to the code fails this test: X-Ray's trace writes, and the CloudWatch Logs
    // delivery that Step Functions' execution logging needs.
    const xray = ['PutTraceSegments', 'PutTelemetryRecords', 'GetSamplingRules', 'GetSamplingTargets'].map((action) => `xray:${action}`);
    const logDelivery = ['CreateLogDelivery', 'GetLogDelivery', 'UpdateLogDelivery', 'DeleteLogDelivery', 'ListLogDeliveries', 'PutResourcePolicy', 'DescribeResourcePolicies', 'DescribeLogGroups'];
    expect([...onAnything].sort()).toEqual([...xray, ...logDelivery.map((action) => `logs:${action}`)].sort());
  });

  // Every function publishes its metrics in the embedded metric format, through its log.
  it('lets no role call CloudWatch: no cloudwatch:PutMetricData anywhere', () => {
    const cloudwatch = everyIdentityPolicy().flatMap(({ where, statements }) =>
      statements.filter((s) => asList(s.Action).some((a) => a.startsWith('cloudwatch:'))).map((s) => ({ where, sid: s.Sid })),
    );
    expect(cloudwatch).toEqual([]);
  });
});

describe('each function’s role', () => {
  it.each(PIPELINE_FUNCTIONS)('%s is assumed by Lambda only and writes only to its own log group', (step) => {
    expect(statementsOf(role(step).assume_role_policy)).toEqual([
      { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
    ]);
    const logGroup = resourceWhere(synth.tf, 'aws_cloudwatch_log_group', 'name', `/aws/lambda/${prefix}-${step}`);
    const statements = policyOf(step);
    expect(allowed(statements, 'logs:PutLogEvents')).toEqual([`${ref(logGroup, 'arn')}:*`]);
    expect(allowed(statements, 'logs:CreateLogStream')).toEqual([`${ref(logGroup, 'arn')}:*`]);
    expect(allowed(statements, 'xray:PutTraceSegments')).toEqual(['*']);
    expect([...actionsOf(statements)].filter((a) => a.startsWith('ec2:'))).toEqual([]);
  });

  it('extract reads the ingestion bucket’s manifests, key sets, deletions and lake identity, writes those and the tables, and reads only the ToteSys secret', () => {
    const statements = policyOf('extract');
    const ingestion = bucketArn('ingestion');
    const { manifests, tables, keys, deletions, lake } = INGESTION_PREFIX;
    expect(allowed(statements, 's3:GetObject').sort()).toEqual(objectsUnder(ingestion, manifests, keys, deletions, lake));
    expect(allowed(statements, 's3:PutObject').sort()).toEqual(objectsUnder(ingestion, manifests, tables, keys, deletions, lake));
    expect(allowed(statements, 's3:AbortMultipartUpload').sort()).toEqual(objectsUnder(ingestion, manifests, tables, keys, deletions, lake));
    expect(allowed(statements, 's3:ListBucket')).toEqual([ingestion]);
    expect(allowed(statements, 'secretsmanager:GetSecretValue')).toEqual([secretArn('totesys')]);
    expect(JSON.stringify(statements)).not.toContain(bucketArn('processed'));
  });

  it('transform reads the ingestion bucket’s manifests, tables and deletions, reads and writes the processed bucket (its held rows too), and reads no secret', () => {
    const statements = policyOf('transform');
    const [ingestion, processed] = [bucketArn('ingestion'), bucketArn('processed')];
    expect(allowed(statements, 's3:GetObject').sort()).toEqual(
      [
        ...objectsUnder(ingestion, INGESTION_PREFIX.manifests, INGESTION_PREFIX.tables, INGESTION_PREFIX.deletions),
        ...objectsUnder(processed, PROCESSED_PREFIX.manifests, PROCESSED_PREFIX.state, PROCESSED_PREFIX.quarantine),
      ].sort(),
    );
    expect(allowed(statements, 's3:PutObject').sort()).toEqual(
      objectsUnder(processed, PROCESSED_PREFIX.manifests, PROCESSED_PREFIX.state, PROCESSED_PREFIX.tables, PROCESSED_PREFIX.deletions, PROCESSED_PREFIX.quarantine),
    );
    expect(allowed(statements, 's3:ListBucket').sort()).toEqual([ingestion, processed].sort());
    expect([...actionsOf(statements)].filter((a) => a.startsWith('secretsmanager:') || a.startsWith('cloudwatch:'))).toEqual([]);
  });

  // The keys the steps build, against their roles: a key built outside the prefixes its role may
  // reach fails here, whatever the layout says.
  const [batch, attempt] = ['0000000007', 'attempt'];
  it.each([
    ['extract', 's3:PutObject', 'ingestion', manifestKey(batch)],
    ['extract', 's3:PutObject', 'ingestion', ingestionObjectKey('sales_order', batch, attempt)],
    ['extract', 's3:PutObject', 'ingestion', deletionsObjectKey('payment', batch, attempt)],
    ['extract', 's3:GetObject', 'ingestion', keySetsObjectKey(batch, attempt)],
    ['extract', 's3:PutObject', 'ingestion', keySetsObjectKey(batch, attempt)],
    ['extract', 's3:GetObject', 'ingestion', LAKE_IDENTITY_KEY],
    ['extract', 's3:PutObject', 'ingestion', LAKE_IDENTITY_KEY],
    ['transform', 's3:GetObject', 'ingestion', manifestKey(batch)],
    ['transform', 's3:GetObject', 'ingestion', ingestionObjectKey('sales_order', batch, attempt)],
    ['transform', 's3:GetObject', 'ingestion', deletionsObjectKey('payment', batch, attempt)],
    ['transform', 's3:PutObject', 'processed', manifestKey(batch)],
    ['transform', 's3:PutObject', 'processed', processedTableKey('fact_sales_order', batch, attempt)],
    ['transform', 's3:GetObject', 'processed', sourceStateKey('staff', batch, attempt)],
    ['transform', 's3:PutObject', 'processed', sourceStateKey('staff', batch, attempt)],
    ['transform', 's3:PutObject', 'processed', processedDeletionsKey(batch, attempt)],
    ['transform', 's3:GetObject', 'processed', quarantineKey(batch, attempt)],
    ['transform', 's3:PutObject', 'processed', quarantineKey(batch, attempt)],
    ['load', 's3:GetObject', 'processed', manifestKey(batch)],
    ['load', 's3:GetObject', 'processed', processedTableKey('fact_sales_order', batch, attempt)],
    ['load', 's3:GetObject', 'processed', processedDeletionsKey(batch, attempt)],
    ['load', 's3:GetObject', 'processed', quarantineKey(batch, attempt)],
    ['verify', 's3:GetObject', 'ingestion', manifestKey(batch)],
    ['verify', 's3:GetObject', 'ingestion', keySetsObjectKey(batch, attempt)],
    ['verify', 's3:GetObject', 'ingestion', LAKE_IDENTITY_KEY],
  ] as const)('%s has %s on the %s bucket’s %s', (step, action, kind, key) => {
    const object = `${bucketArn(kind)}/${key}`;
    // Every pattern here is a prefix followed by one `*`.
    const matches = (pattern: string) => pattern.endsWith('/*') && object.startsWith(pattern.slice(0, -1));
    expect(allowed(policyOf(step), action).some(matches)).toBe(true);
  });

  it('load only reads the processed bucket’s manifests, tables, deletions and held rows, and reads only the warehouse secret', () => {
    const statements = policyOf('load');
    const processed = bucketArn('processed');
    expect(allowed(statements, 's3:GetObject').sort()).toEqual(
      objectsUnder(processed, PROCESSED_PREFIX.manifests, PROCESSED_PREFIX.tables, PROCESSED_PREFIX.deletions, PROCESSED_PREFIX.quarantine),
    );
    expect(allowed(statements, 's3:PutObject')).toEqual([]);
    expect(allowed(statements, 's3:ListBucket')).toEqual([processed]);
    expect(allowed(statements, 'secretsmanager:GetSecretValue')).toEqual([secretArn('warehouse')]);
    expect(JSON.stringify(statements)).not.toContain(bucketArn('ingestion'));
  });

  it('verify only reads the ingestion bucket’s manifests, key sets and lake identity, and reads both database secrets', () => {
    const statements = policyOf('verify');
    const ingestion = bucketArn('ingestion');
    expect(allowed(statements, 's3:GetObject').sort()).toEqual(objectsUnder(ingestion, INGESTION_PREFIX.manifests, INGESTION_PREFIX.keys, INGESTION_PREFIX.lake));
    expect(allowed(statements, 's3:PutObject')).toEqual([]);
    expect(allowed(statements, 's3:AbortMultipartUpload')).toEqual([]);
    expect(allowed(statements, 's3:ListBucket')).toEqual([ingestion]);
    expect(allowed(statements, 'secretsmanager:GetSecretValue').sort()).toEqual([secretArn('totesys'), secretArn('warehouse')].sort());
    expect(JSON.stringify(statements)).not.toContain(bucketArn('processed'));
    expect([...actionsOf(statements)].sort()).toEqual(
      [
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
        'xray:GetSamplingRules',
        'xray:GetSamplingTargets',
        's3:ListBucket',
        's3:GetObject',
        'secretsmanager:GetSecretValue',
      ].sort(),
    );
  });

  it.each(PIPELINE_FUNCTIONS)('%s may list only the manifests/ prefix, and may never delete', (step) => {
    const statements = policyOf(step);
    for (const list of statements.filter((s) => asList(s.Action).includes('s3:ListBucket'))) {
      expect(list.Condition).toEqual({ StringLikeIfExists: { 's3:prefix': [`${MANIFEST_PREFIX}*`] } });
    }
    expect([...actionsOf(statements)].filter((a) => /Delete/.test(a))).toEqual([]);
    const s3Actions = [...actionsOf(statements)].filter((a) => a.startsWith('s3:')).sort();
    expect(s3Actions.every((a) => ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListBucket', 's3:PutObject'].includes(a))).toBe(true);
  });

  it('manages network interfaces only for the functions that join the VPC, when one is configured: never Transform', () => {
    const vpc = synthesizePipeline({ PIPELINE_SUBNET_IDS: 'subnet-0a1', PIPELINE_SECURITY_GROUP_IDS: 'sg-0c3' });
    try {
      const statementsIn = (step: string) => {
        const r = resourceWhere(vpc.tf, 'aws_iam_role', 'name', `${prefix}-${step}`);
        return statementsOf(resourceWhere(vpc.tf, 'aws_iam_role_policy', 'role', ref(r, 'id')).policy);
      };
      for (const step of ['extract', 'load', 'verify']) {
        expect(allowed(statementsIn(step), 'ec2:CreateNetworkInterface')).toEqual(['*']);
        expect(allowed(statementsIn(step), 'ec2:DeleteNetworkInterface')).toEqual(['*']);
      }
      expect([...actionsOf(statementsIn('transform'))].filter((a) => a.startsWith('ec2:'))).toEqual([]);
      // A role has the rights exactly when its function is attached to the VPC.
      for (const step of PIPELINE_FUNCTIONS) {
        const lambda = resourceWhere(vpc.tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`);
        const mayAttach = allowed(statementsIn(step), 'ec2:CreateNetworkInterface').length > 0;
        expect({ step, mayAttach }).toEqual({ step, mayAttach: lambda.vpc_config !== undefined });
      }
    } finally {
      vpc.cleanup();
    }
  });
});

describe('the state machine’s role', () => {
  it('is assumed by Step Functions for this account only', () => {
    const [caller] = Object.keys(synth.tf.data.aws_caller_identity ?? {});
    expect(statementsOf(role('state-machine').assume_role_policy)).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'states.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: { StringEquals: { 'aws:SourceAccount': `\${data.aws_caller_identity.${caller}.account_id}` } },
      },
    ]);
  });

  it('invokes the four functions (and their versions), publishes to the topic and lists only its own executions', () => {
    const statements = policyOf('state-machine');
    const functionArns = PIPELINE_FUNCTIONS.map((step) => ref(resourceWhere(synth.tf, 'aws_lambda_function', 'function_name', `${prefix}-${step}`), 'arn'));
    expect(allowed(statements, 'lambda:InvokeFunction').sort()).toEqual(functionArns.flatMap((arn) => [arn, `${arn}:*`]).sort());
    expect(allowed(statements, 'sns:Publish')).toEqual([ref(resourceWhere(synth.tf, 'aws_sns_topic', 'name', `${prefix}-alerts`), 'arn')]);
    const [caller] = Object.keys(synth.tf.data.aws_caller_identity ?? {});
    const [partition] = Object.keys(synth.tf.data.aws_partition ?? {});
    expect(allowed(statements, 'states:ListExecutions')).toEqual([
      `arn:\${data.aws_partition.${partition}.partition}:states:eu-west-2:\${data.aws_caller_identity.${caller}.account_id}:stateMachine:${prefix}`,
    ]);
    expect(allowed(statements, 'logs:CreateLogDelivery')).toEqual(['*']);
    expect(allowed(statements, 'xray:PutTraceSegments')).toEqual(['*']);
    expect([...actionsOf(statements)].filter((a) => a.startsWith('s3:') || a.startsWith('secretsmanager:'))).toEqual([]);
  });

  it('may send every alert its definition publishes, the quarantine alert included', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const states = (JSON.parse(machine.definition as string) as { States: Record<string, { Resource?: string; Parameters?: { TopicArn?: string } }> }).States;
    const publishing = Object.entries(states).filter(([, state]) => state.Resource === 'arn:aws:states:::sns:publish');
    expect(publishing.map(([name]) => name).sort()).toEqual(['NotifyFailure', NOTIFY_QUARANTINE_STATE].sort());
    const mayPublish = allowed(policyOf('state-machine'), 'sns:Publish');
    for (const [name, state] of publishing) expect({ name, allowed: mayPublish.includes(state.Parameters!.TopicArn!) }).toEqual({ name, allowed: true });
  });

  it('lets the scheduler start only this state machine, and send only to its dead-letter queue', () => {
    const machine = resourceWhere(synth.tf, 'aws_sfn_state_machine', 'name', prefix);
    const queue = resourceWhere(synth.tf, 'aws_sqs_queue', 'name', `${prefix}-scheduler-dlq`);
    expect(policyOf('scheduler')).toEqual([
      { Sid: 'StartPipeline', Effect: 'Allow', Action: 'states:StartExecution', Resource: ref(machine, 'arn') },
      { Sid: 'SendDeadLetters', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: ref(queue, 'arn') },
    ]);
    expect(statementsOf(role('scheduler').assume_role_policy)[0]).toMatchObject({ Principal: { Service: 'scheduler.amazonaws.com' } });
  });

  it('is the only role that may reach the dead-letter queue; the queue refuses every other sender', () => {
    const queue = resourceWhere(synth.tf, 'aws_sqs_queue', 'name', `${prefix}-scheduler-dlq`);
    const sqsUsers = everyIdentityPolicy().filter(({ statements }) => statements.some((s) => asList(s.Action).some((a) => a.startsWith('sqs:'))));
    expect(sqsUsers.map(({ where }) => where)).toEqual([resourceWhere(synth.tf, 'aws_iam_role_policy', 'role', ref(role('scheduler'), 'id'))['@address']]);
    const queuePolicy = statementsOf(resourceWhere(synth.tf, 'aws_sqs_queue_policy', 'queue_url', ref(queue, 'url')).policy);
    // Only Deny statements: the policy grants nothing to anyone.
    expect(queuePolicy.every((s) => s.Effect === 'Deny')).toBe(true);
    const onlySender = queuePolicy.find((s) => asList(s.Action).includes('sqs:SendMessage'))!;
    expect(onlySender).toMatchObject({ Principal: '*', Resource: ref(queue, 'arn'), Condition: { ArnNotEquals: { 'aws:PrincipalArn': ref(role('scheduler'), 'arn') } } });
  });
});

describe('the bucket policies', () => {
  const pipelineRoleArns = () => PIPELINE_FUNCTIONS.map((step) => ref(role(step), 'arn'));
  const bucketPolicy = (kind: 'ingestion' | 'processed'): Statement[] =>
    statementsOf(resourceWhere(synth.tf, 'aws_s3_bucket_policy', 'bucket', ref(bucket(kind), 'id')).policy);
  const bySid = (kind: 'ingestion' | 'processed', sid: string) => bucketPolicy(kind).find((s) => s.Sid === sid)!;

  it.each(['ingestion', 'processed'] as const)('the %s bucket refuses every request not made over TLS', (kind) => {
    expect(bySid(kind, 'DenyInsecureTransport')).toEqual({
      Sid: 'DenyInsecureTransport',
      Effect: 'Deny',
      Principal: '*',
      Action: 's3:*',
      Resource: [bucketArn(kind), `${bucketArn(kind)}/*`],
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
  });

  it.each(['ingestion', 'processed'] as const)('the %s bucket refuses the pipeline’s deletes', (kind) => {
    expect(bySid(kind, 'DenyDeletesByThePipeline')).toEqual({
      Sid: 'DenyDeletesByThePipeline',
      Effect: 'Deny',
      Principal: '*',
      Action: ['s3:DeleteObject', 's3:DeleteObjectVersion'],
      Resource: `${bucketArn(kind)}/*`,
      Condition: { ArnEquals: { 'aws:PrincipalArn': pipelineRoleArns() } },
    });
  });

  it.each(['ingestion', 'processed'] as const)('the %s bucket refuses a pipeline manifest write that is not If-None-Match: *', (kind) => {
    const manifests = `${bucketArn(kind)}/${MANIFEST_PREFIX}*`;
    expect(bySid(kind, 'DenyManifestWritesWithoutIfNoneMatch')).toMatchObject({
      Effect: 'Deny',
      Action: 's3:PutObject',
      Resource: manifests,
      Condition: { ArnEquals: { 'aws:PrincipalArn': pipelineRoleArns() }, Null: { 's3:if-none-match': 'true' } },
    });
    expect(bySid(kind, 'DenyManifestOverwrites')).toMatchObject({
      Effect: 'Deny',
      Action: 's3:PutObject',
      Resource: manifests,
      Condition: { ArnEquals: { 'aws:PrincipalArn': pipelineRoleArns() }, StringNotEquals: { 's3:if-none-match': '*' } },
    });
    expect(bucketPolicy(kind).every((s) => s.Effect === 'Deny')).toBe(true);
  });

  it('leaves no bucket public', () => {
    const blocks = resourcesOf(synth.tf, 'aws_s3_bucket_public_access_block');
    expect(blocks.map((b) => b.bucket).sort()).toEqual(resourcesOf(synth.tf, 'aws_s3_bucket').map((b) => ref(b, 'id')).sort());
    for (const block of blocks) {
      expect([block.block_public_acls, block.block_public_policy, block.ignore_public_acls, block.restrict_public_buckets]).toEqual([true, true, true, true]);
    }
    for (const policy of resourcesOf(synth.tf, 'aws_s3_bucket_policy')) {
      expect(statementsOf(policy.policy).filter((s) => s.Effect === 'Allow')).toEqual([]);
    }
    expect(resourcesOf(synth.tf, 'aws_s3_bucket_acl')).toEqual([]);
  });

  it('encrypts every bucket at rest', () => {
    const encrypted = resourcesOf(synth.tf, 'aws_s3_bucket_server_side_encryption_configuration');
    expect(encrypted.map((e) => e.bucket).sort()).toEqual(resourcesOf(synth.tf, 'aws_s3_bucket').map((b: Resource) => ref(b, 'id')).sort());
  });
});
