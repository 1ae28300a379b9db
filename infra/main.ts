import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, LocalBackend, S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import path from 'node:path';
import type { PipelineFunctionName } from '../functions/shared/step-contract';
import { PipelineAlerting } from './alerting';
import { AwsAccount } from './aws-account';
import { InfraConfigError, readInfraConfig, type InfraConfig } from './config';
import { PipelineDashboard } from './dashboard';
import { PipelineFunctions } from './functions';
import type { FunctionPackage } from './nodejs-function';
import { PipelineOrchestration } from './orchestration';
import { PipelineSecrets } from './secrets';
import { PipelineStorage } from './storage';

export interface PipelineStackProps {
  readonly config: InfraConfig;
  /** Function packages built elsewhere (tests); by default they are built from functions/. */
  readonly packages?: Partial<Record<PipelineFunctionName, FunctionPackage>>;
}

/**
 * The whole pipeline in one stack: the lake, the secrets, the three step functions and the verify
 * function, the alert topic, the state machine and its two schedules (runs and verifications),
 * the schedules' dead-letter queue, the alarms and the dashboard.
 */
export class PipelineStack extends TerraformStack {
  readonly storage: PipelineStorage;
  readonly secrets: PipelineSecrets;
  readonly functions: PipelineFunctions;
  readonly alerting: PipelineAlerting;
  readonly orchestration: PipelineOrchestration;
  readonly dashboard: PipelineDashboard;

  constructor(scope: Construct, id: string, { config, packages }: PipelineStackProps) {
    super(scope, id);
    if (config.backend.type === 's3') {
      const s3 = new S3Backend(this, {
        bucket: config.backend.bucket,
        key: config.backend.key,
        region: config.backend.region,
        encrypt: true,
        dynamodbTable: config.backend.dynamodbTable,
      });
      // Terraform 1.10+ locks with a lock object next to the state; cdktf 0.21 has no property for it yet.
      if (!config.backend.dynamodbTable) s3.addOverride('use_lockfile', true);
    } else {
      new LocalBackend(this, { path: path.join(process.cwd(), `terraform.${id}.tfstate`) });
    }
    new AwsProvider(this, 'aws', {
      region: config.region,
      defaultTags: [{ tags: { Project: 'totesys-pipeline', Environment: config.environment, ManagedBy: 'cdktf' } }],
    });
    const account = new AwsAccount(this, 'account', config.region);

    this.storage = new PipelineStorage(this, 'storage', { config, account });
    this.secrets = new PipelineSecrets(this, 'secrets', config);
    this.functions = new PipelineFunctions(this, 'functions', { config, account, storage: this.storage, secrets: this.secrets, packages });
    this.storage.appendOnlyFor(this.functions.roleArns);
    this.alerting = new PipelineAlerting(this, 'alerting', config);
    this.orchestration = new PipelineOrchestration(this, 'orchestration', {
      config,
      account,
      functions: this.functions,
      alertTopic: this.alerting.topic,
    });
    const stateMachineArn = this.orchestration.stateMachine.arn;
    const schedules = { scheduleGroupName: this.orchestration.scheduleGroup.name, deadLetterQueueName: this.orchestration.deadLetterQueue.name };
    this.alerting.watch({ stateMachineArn, functions: this.functions, ...schedules });
    this.dashboard = new PipelineDashboard(this, 'dashboard', { config, functions: this.functions, stateMachineArn, alerting: this.alerting, ...schedules });

    new TerraformOutput(this, 'state_machine_arn', { value: stateMachineArn });
    new TerraformOutput(this, 'ingestion_bucket', { value: this.storage.ingestionBucket.bucket });
    new TerraformOutput(this, 'processed_bucket', { value: this.storage.processedBucket.bucket });
    new TerraformOutput(this, 'totesys_secret_arn', { value: this.secrets.totesys.arn });
    new TerraformOutput(this, 'warehouse_secret_arn', { value: this.secrets.warehouse.arn });
    new TerraformOutput(this, 'alert_topic_arn', { value: this.alerting.topic.arn });
    new TerraformOutput(this, 'scheduler_dead_letter_queue_url', { value: this.orchestration.deadLetterQueue.url });
    new TerraformOutput(this, 'dashboard_url', {
      value: `https://${config.region}.console.aws.amazon.com/cloudwatch/home?region=${config.region}#dashboards/dashboard/${config.resourcePrefix}`,
    });
  }
}

/** `npx cdktf synth`: settings from the environment and cdktf.json's context (docs/deploy.md). */
function main(): void {
  const app = new App();
  try {
    const config = readInfraConfig(process.env, (key) => app.node.tryGetContext(key));
    new PipelineStack(app, config.resourcePrefix, { config });
  } catch (error) {
    if (!(error instanceof InfraConfigError)) throw error;
    console.error(`Configuration: ${error.message}`);
    process.exit(1);
  }
  app.synth();
}

if (require.main === module) main();
