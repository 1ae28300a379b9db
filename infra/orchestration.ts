import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { SchedulerSchedule } from '@cdktf/provider-aws/lib/scheduler-schedule';
import { SfnStateMachine } from '@cdktf/provider-aws/lib/sfn-state-machine';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { Construct } from 'constructs';
import { buildPipelineDefinition, PIPELINE_FUNCTIONS, VERIFY_INPUT, type PipelineFunctionName } from '../state-machine/definition';
import type { AwsAccount } from './aws-account';
import type { InfraConfig } from './config';
import type { PipelineFunctions } from './functions';
import { ServiceRole, XRAY_WRITE } from './iam';

/** A Task waits this much longer than its Lambda may run, so the Lambda's own timeout is what fails it. */
export const TASK_TIMEOUT_MARGIN_SECONDS = 60;

export interface PipelineOrchestrationProps {
  readonly config: InfraConfig;
  readonly account: AwsAccount;
  readonly functions: PipelineFunctions;
  readonly alertTopic: SnsTopic;
}

/**
 * The state machine (Standard, exactly `buildPipelineDefinition`'s output) with its role, its
 * execution log and X-Ray tracing; and the two EventBridge Scheduler schedules that start it:
 * pipeline runs (input `{}`) and verifications (input `{"verify": true}`).
 */
export class PipelineOrchestration extends Construct {
  readonly stateMachine: SfnStateMachine;
  readonly stateMachineName: string;
  readonly role: ServiceRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly schedule: SchedulerSchedule;
  readonly verifySchedule: SchedulerSchedule;
  readonly schedulerRole: ServiceRole;

  constructor(scope: Construct, id: string, props: PipelineOrchestrationProps) {
    super(scope, id);
    const { config, account, functions, alertTopic } = props;
    this.stateMachineName = config.resourcePrefix;
    // Built from its name, not read from the resource: the role must exist before the state machine.
    const stateMachineArn = account.arn('states', `stateMachine:${this.stateMachineName}`);
    const functionArns = PIPELINE_FUNCTIONS.map((name) => functions.steps[name].lambda.arn);

    this.logGroup = new CloudwatchLogGroup(this, 'logs', {
      // Step Functions' recommended prefix: keeps the account's log resource policy small.
      name: `/aws/vendedlogs/states/${this.stateMachineName}`,
      retentionInDays: config.logRetentionDays,
    });

    this.role = new ServiceRole(this, 'state-machine-role', {
      name: `${config.resourcePrefix}-state-machine`,
      description: 'Runs the ToteSys pipeline state machine',
      service: 'states.amazonaws.com',
      sourceAccount: account.accountId,
      statements: [
        {
          Sid: 'InvokeSteps',
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: functionArns.flatMap((arn) => [arn, `${arn}:*`]),
        },
        { Sid: 'PublishAlerts', Effect: 'Allow', Action: 'sns:Publish', Resource: alertTopic.arn },
        // The guard state: "is another execution of this state machine running?"
        { Sid: 'ListOwnExecutions', Effect: 'Allow', Action: 'states:ListExecutions', Resource: stateMachineArn },
        {
          // CloudWatch Logs delivery for Step Functions takes no narrower resource.
          Sid: 'DeliverExecutionLogs',
          Effect: 'Allow',
          Action: [
            'logs:CreateLogDelivery',
            'logs:GetLogDelivery',
            'logs:UpdateLogDelivery',
            'logs:DeleteLogDelivery',
            'logs:ListLogDeliveries',
            'logs:PutResourcePolicy',
            'logs:DescribeResourcePolicies',
            'logs:DescribeLogGroups',
          ],
          Resource: '*',
        },
        XRAY_WRITE,
      ],
    });

    const timeoutSeconds = Object.fromEntries(
      PIPELINE_FUNCTIONS.map((name) => [name, functions.steps[name].timeoutSeconds + TASK_TIMEOUT_MARGIN_SECONDS]),
    ) as Record<PipelineFunctionName, number>;
    this.stateMachine = new SfnStateMachine(this, 'state-machine', {
      name: this.stateMachineName,
      type: 'STANDARD',
      roleArn: this.role.arn,
      definition: JSON.stringify(
        buildPipelineDefinition({
          extractFunctionArn: functions.steps.extract.lambda.arn,
          transformFunctionArn: functions.steps.transform.lambda.arn,
          loadFunctionArn: functions.steps.load.lambda.arn,
          verifyFunctionArn: functions.steps.verify.lambda.arn,
          alertTopicArn: alertTopic.arn,
          timeoutSeconds,
        }),
      ),
      loggingConfiguration: {
        logDestination: `${this.logGroup.arn}:*`,
        includeExecutionData: true,
        level: config.stateMachineLogLevel,
      },
      tracingConfiguration: { enabled: true },
      // Step Functions checks the role's logging permissions when the state machine is created.
      dependsOn: [this.role.policy],
    });

    this.schedulerRole = new ServiceRole(this, 'scheduler-role', {
      name: `${config.resourcePrefix}-scheduler`,
      description: 'Lets EventBridge Scheduler start the ToteSys pipeline and its verification',
      service: 'scheduler.amazonaws.com',
      sourceAccount: account.accountId,
      statements: [{ Sid: 'StartPipeline', Effect: 'Allow', Action: 'states:StartExecution', Resource: this.stateMachine.arn }],
    });
    const schedule = (id: string, name: string, description: string, settings: InfraConfig['schedule'], input: object) =>
      new SchedulerSchedule(this, id, {
        name,
        description,
        scheduleExpression: settings.expression,
        state: settings.enabled ? 'ENABLED' : 'DISABLED',
        flexibleTimeWindow: { mode: 'OFF' },
        target: {
          arn: this.stateMachine.arn,
          roleArn: this.schedulerRole.arn,
          input: JSON.stringify(input),
          // A start that keeps failing is superseded by the next scheduled one.
          retryPolicy: { maximumEventAgeInSeconds: 300, maximumRetryAttempts: 3 },
        },
        dependsOn: [this.schedulerRole.policy],
      });
    // An empty input runs every step (see README "The state machine").
    this.schedule = schedule('schedule', config.resourcePrefix, 'Starts the ToteSys pipeline', config.schedule, {});
    // {"verify": true}: compares the warehouse with ToteSys, changes nothing.
    this.verifySchedule = schedule('verify-schedule', `${config.resourcePrefix}-verify`, 'Verifies the ToteSys warehouse against ToteSys', config.verifySchedule, VERIFY_INPUT);
  }
}
