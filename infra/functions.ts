import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function';
import { Construct } from 'constructs';
import { duckDbMemoryLimitMb } from '../functions/shared/config';
import { INGESTION_PREFIX, MANIFEST_PREFIX, PROCESSED_PREFIX } from '../functions/shared/lake-layout';
import { DEPLOYMENT_VARIABLE } from '../functions/shared/metrics';
import { PIPELINE_FUNCTIONS, type PipelineFunctionName } from '../functions/shared/step-contract';
import type { AwsAccount } from './aws-account';
import type { InfraConfig } from './config';
import { PIPELINE_FUNCTION_BUNDLES } from './function-bundles';
import { ServiceRole, XRAY_WRITE, type PolicyStatement } from './iam';
import { NodejsFunctionPackage, type FunctionPackage } from './nodejs-function';
import type { PipelineSecrets } from './secrets';
import type { PipelineStorage } from './storage';

/** The service name in every log line (the steps' loggers set the same). */
export const POWERTOOLS_SERVICE_NAME = 'totesys-pipeline';

/**
 * The functions that open a database connection (Extract and Verify to ToteSys, Load and Verify
 * to the warehouse): with subnets configured, these join the VPC. Transform reads and writes only
 * the buckets, so it stays out (and its role gets no network-interface rights).
 */
export const DATABASE_FUNCTIONS: readonly PipelineFunctionName[] = ['extract', 'load', 'verify'];

export interface PipelineFunctionsProps {
  readonly config: InfraConfig;
  readonly account: AwsAccount;
  readonly storage: PipelineStorage;
  readonly secrets: PipelineSecrets;
  /** Packages built elsewhere; by default each is built (and cached) from functions/. */
  readonly packages?: Partial<Record<PipelineFunctionName, FunctionPackage>>;
}

export interface PipelineFunction {
  readonly lambda: LambdaFunction;
  readonly role: ServiceRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly package: FunctionPackage;
  readonly timeoutSeconds: number;
}

/**
 * The three steps and the verification as Lambda functions: Node.js 22 on x86_64 (DuckDB's Linux
 * x64 binary), X-Ray tracing, their own log group, and their own role that reaches only the
 * bucket prefixes and the secrets the function uses. Their metrics go out in the embedded metric
 * format through their log (functions/shared/metrics.ts): no role may call PutMetricData.
 */
export class PipelineFunctions extends Construct {
  readonly steps: Readonly<Record<PipelineFunctionName, PipelineFunction>>;

  constructor(scope: Construct, id: string, props: PipelineFunctionsProps) {
    super(scope, id);
    const { config } = props;
    const ingestion = props.storage.ingestionBucket;
    const processed = props.storage.processedBucket;
    const duckDbMemoryMb = (step: PipelineFunctionName) => String(duckDbMemoryLimitMb(config.functions[step].memoryMb));

    // How the functions that open database connections encrypt them (docs/database-tls.md).
    const tls: Record<string, string> = {
      DATABASE_SSLMODE: config.databaseSslMode,
      ...(config.databaseSslRootCert === undefined ? {} : { DATABASE_SSL_ROOT_CERT: config.databaseSslRootCert }),
    };
    const environment: Record<PipelineFunctionName, Record<string, string>> = {
      extract: { INGESTION_BUCKET: ingestion.bucket, TOTESYS_SECRET_ID: props.secrets.totesys.arn, ...tls },
      transform: {
        INGESTION_BUCKET: ingestion.bucket,
        PROCESSED_BUCKET: processed.bucket,
        TRANSFORM_MEMORY_LIMIT_MB: duckDbMemoryMb('transform'),
        // What a bad row does (functions/shared/config.ts readRowPolicy), validated at synth.
        PIPELINE_STRICT_ROWS: String(config.rows.strict),
        PIPELINE_EARLIEST_DATE: config.rows.earliestDate,
        PIPELINE_LATEST_DATE: config.rows.latestDate,
      },
      load: { PROCESSED_BUCKET: processed.bucket, WAREHOUSE_SECRET_ID: props.secrets.warehouse.arn, LOAD_MEMORY_LIMIT_MB: duckDbMemoryMb('load'), ...tls },
      verify: { INGESTION_BUCKET: ingestion.bucket, TOTESYS_SECRET_ID: props.secrets.totesys.arn, WAREHOUSE_SECRET_ID: props.secrets.warehouse.arn, ...tls },
    };

    // What each function may touch: prefixes of the buckets' layouts (functions/shared/lake-layout.ts).
    const access: Record<PipelineFunctionName, PolicyStatement[]> = {
      extract: [
        ...bucketAccess('Ingestion', ingestion.arn, INGESTION_PREFIX, {
          read: ['manifests', 'keys', 'deletions', 'lake'],
          write: ['manifests', 'tables', 'keys', 'deletions', 'lake'],
        }),
        readSecret('TotesysSecret', props.secrets.totesys.arn),
      ],
      transform: [
        ...bucketAccess('Ingestion', ingestion.arn, INGESTION_PREFIX, { read: ['manifests', 'tables', 'deletions'], write: [] }),
        // quarantine: the held rows, read back and retried by every batch (functions/shared/quarantine.ts).
        ...bucketAccess('Processed', processed.arn, PROCESSED_PREFIX, {
          read: ['manifests', 'state', 'quarantine'],
          write: ['manifests', 'tables', 'state', 'deletions', 'quarantine'],
        }),
      ],
      load: [
        // quarantine: a batch's held rows, recorded in pipeline.quarantined_rows.
        ...bucketAccess('Processed', processed.arn, PROCESSED_PREFIX, { read: ['manifests', 'tables', 'deletions', 'quarantine'], write: [] }),
        readSecret('WarehouseSecret', props.secrets.warehouse.arn),
      ],
      // Reads both databases (with whatever rights their secrets' users have: it only queries).
      verify: [
        ...bucketAccess('Ingestion', ingestion.arn, INGESTION_PREFIX, { read: ['manifests', 'keys', 'lake'], write: [] }),
        readSecret('TotesysSecret', props.secrets.totesys.arn),
        readSecret('WarehouseSecret', props.secrets.warehouse.arn),
      ],
    };

    const steps = {} as Record<PipelineFunctionName, PipelineFunction>;
    for (const step of PIPELINE_FUNCTIONS) {
      const name = `${config.resourcePrefix}-${step}`;
      const sizing = config.functions[step];
      const vpc = config.vpc && DATABASE_FUNCTIONS.includes(step) ? config.vpc : undefined;
      const logGroup = new CloudwatchLogGroup(this, `${step}-logs`, {
        name: `/aws/lambda/${name}`,
        retentionInDays: config.logRetentionDays,
      });
      const role = new ServiceRole(this, `${step}-role`, {
        name,
        description: step === 'verify' ? 'Compares the ToteSys warehouse with ToteSys' : `Runs the ToteSys pipeline's ${step} step`,
        service: 'lambda.amazonaws.com',
        statements: [
          {
            Sid: 'OwnLogGroup',
            Effect: 'Allow',
            Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            Resource: `${logGroup.arn}:*`,
          },
          XRAY_WRITE,
          ...(vpc ? [VPC_NETWORK_INTERFACES] : []),
          ...access[step],
        ],
      });
      const pkg = new NodejsFunctionPackage(this, `${step}-package`, {
        name: step,
        bundle: PIPELINE_FUNCTION_BUNDLES[step],
        prebuilt: props.packages?.[step],
      });
      const lambda = new LambdaFunction(this, step, {
        functionName: name,
        description: step === 'verify' ? 'ToteSys pipeline: verification (warehouse against ToteSys)' : `ToteSys pipeline: ${step} step`,
        role: role.arn,
        runtime: 'nodejs22.x',
        architectures: ['x86_64'],
        handler: 'index.handler',
        filename: pkg.asset.path,
        sourceCodeHash: pkg.package.codeSha256,
        memorySize: sizing.memoryMb,
        timeout: sizing.timeoutSeconds,
        ephemeralStorage: { size: sizing.ephemeralStorageMb },
        environment: {
          variables: {
            ...environment[step],
            POWERTOOLS_SERVICE_NAME,
            POWERTOOLS_LOG_LEVEL: config.functionLogLevel,
            // The Deployment dimension of every metric the function publishes (functions/shared/metrics.ts).
            [DEPLOYMENT_VARIABLE]: config.resourcePrefix,
            // The bundle ships its source map: stack traces name the TypeScript files.
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
        tracingConfig: { mode: 'Active' },
        loggingConfig: { logFormat: 'Text', logGroup: logGroup.name },
        vpcConfig: vpc ? { subnetIds: [...vpc.subnetIds], securityGroupIds: [...vpc.securityGroupIds] } : undefined,
        // The role's permissions (logs first of all) must be in place before the first invocation.
        dependsOn: [role.policy, logGroup],
      });
      steps[step] = { lambda, role, logGroup, package: pkg.package, timeoutSeconds: sizing.timeoutSeconds };
    }
    this.steps = steps;
  }

  get roleArns(): string[] {
    return PIPELINE_FUNCTIONS.map((step) => this.steps[step].role.arn);
  }
}

/**
 * Read (and optionally write) access to some prefixes of one bucket, named by their place in the
 * bucket's layout. Listing is for the manifest prefix only. `IfExists`: S3 answers a GET or HEAD
 * of a missing key with 404 only to a caller allowed to list the bucket, and that check carries no
 * prefix; the steps rely on the 404 to see that a batch is not committed yet.
 */
function bucketAccess<Layout extends Readonly<Record<string, string>>>(
  sid: string,
  bucketArn: string,
  layout: Layout,
  prefixes: { read: readonly (keyof Layout)[]; write: readonly (keyof Layout)[] },
): PolicyStatement[] {
  const objects = (names: readonly (keyof Layout)[]) => names.map((name) => `${bucketArn}/${layout[name]}*`);
  const statements: PolicyStatement[] = [
    {
      Sid: `${sid}ListManifests`,
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: bucketArn,
      Condition: { StringLikeIfExists: { 's3:prefix': [`${MANIFEST_PREFIX}*`] } },
    },
    { Sid: `${sid}Read`, Effect: 'Allow', Action: 's3:GetObject', Resource: objects(prefixes.read) },
  ];
  if (prefixes.write.length > 0) {
    statements.push({ Sid: `${sid}Write`, Effect: 'Allow', Action: ['s3:PutObject', 's3:AbortMultipartUpload'], Resource: objects(prefixes.write) });
  }
  return statements;
}

function readSecret(sid: string, secretArn: string): PolicyStatement {
  return { Sid: sid, Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArn };
}

/** What Lambda needs to attach a function to the VPC (AWSLambdaVPCAccessExecutionRole); EC2 takes no narrower resource. */
const VPC_NETWORK_INTERFACES: PolicyStatement = {
  Sid: 'VpcNetworkInterfaces',
  Effect: 'Allow',
  Action: [
    'ec2:CreateNetworkInterface',
    'ec2:DescribeNetworkInterfaces',
    'ec2:DescribeSubnets',
    'ec2:DeleteNetworkInterface',
    'ec2:AssignPrivateIpAddresses',
    'ec2:UnassignPrivateIpAddresses',
  ],
  Resource: '*',
};
