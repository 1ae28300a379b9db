import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { SchedulerSchedule } from '@cdktf/provider-aws/lib/scheduler-schedule';
import { SchedulerScheduleGroup } from '@cdktf/provider-aws/lib/scheduler-schedule-group';
import { SfnStateMachine } from '@cdktf/provider-aws/lib/sfn-state-machine';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue';
import { SqsQueuePolicy } from '@cdktf/provider-aws/lib/sqs-queue-policy';
import { Construct } from 'constructs';
import { buildPipelineDefinition } from '../state-machine/definition';
import { PIPELINE_FUNCTIONS, SCHEDULED_INPUT, VERIFY_INPUT, type PipelineFunctionName } from '../functions/shared/step-contract';
import type { AwsAccount } from './aws-account';
import type { InfraConfig } from './config';
import type { PipelineFunctions } from './functions';
import { ServiceRole, XRAY_WRITE } from './iam';

/** A Task waits this much longer than its Lambda may run, so the Lambda's own timeout is what fails it. */
export const TASK_TIMEOUT_MARGIN_SECONDS = 60;

/**
 * How the scheduler retries a start that fails (StartExecution throttled, the role or the state
 * machine wrong): up to 3 more attempts, for at most 5 minutes after the scheduled time (well
 * inside the 15-minute interval, so a late start never overlaps the next). What still fails goes
 * to the dead-letter queue.
 */
export const SCHEDULE_RETRY_POLICY = { maximumEventAgeInSeconds: 300, maximumRetryAttempts: 3 } as const;

/** The dead-letter queue keeps a failed start for SQS's longest retention, 14 days. */
export const DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600;

export interface PipelineOrchestrationProps {
  readonly config: InfraConfig;
  readonly account: AwsAccount;
  readonly functions: PipelineFunctions;
  readonly alertTopic: SnsTopic;
}

/**
 * The state machine (Standard, exactly `buildPipelineDefinition`'s output) with its role, its
 * execution log and X-Ray tracing; and the two EventBridge Scheduler schedules that start it:
 * pipeline runs (input `{"scheduled": true}`) and verifications (input `{"verify": true}`), in a schedule group of
 * their own (the scheduler's metrics are per group), with a retry policy and a dead-letter queue
 * for the starts that still fail.
 */
export class PipelineOrchestration extends Construct {
  readonly stateMachine: SfnStateMachine;
  readonly stateMachineName: string;
  readonly role: ServiceRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly schedule: SchedulerSchedule;
  readonly verifySchedule: SchedulerSchedule;
  readonly scheduleGroup: SchedulerScheduleGroup;
  readonly schedulerRole: ServiceRole;
  /** Where the scheduler puts a start it could not make (SQS, encrypted, sendable by the scheduler's role only). */
  readonly deadLetterQueue: SqsQueue;

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

    this.deadLetterQueue = new SqsQueue(this, 'scheduler-dlq', {
      name: `${config.resourcePrefix}-scheduler-dlq`,
      // SSE-SQS: encrypted at rest with a key SQS manages, so the scheduler's role needs no KMS rights.
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: DEAD_LETTER_RETENTION_SECONDS,
    });
    this.schedulerRole = new ServiceRole(this, 'scheduler-role', {
      name: `${config.resourcePrefix}-scheduler`,
      description: 'Lets EventBridge Scheduler start the ToteSys pipeline and its verification',
      service: 'scheduler.amazonaws.com',
      sourceAccount: account.accountId,
      statements: [
        { Sid: 'StartPipeline', Effect: 'Allow', Action: 'states:StartExecution', Resource: this.stateMachine.arn },
        // The scheduler delivers a dead letter with the schedule's own role.
        { Sid: 'SendDeadLetters', Effect: 'Allow', Action: 'sqs:SendMessage', Resource: this.deadLetterQueue.arn },
      ],
    });
    new SqsQueuePolicy(this, 'scheduler-dlq-policy', {
      queueUrl: this.deadLetterQueue.url,
      policy: JSON.stringify(deadLetterQueuePolicy(this.deadLetterQueue.arn, this.schedulerRole.arn)),
    });
    this.scheduleGroup = new SchedulerScheduleGroup(this, 'schedule-group', { name: config.resourcePrefix });
    const schedule = (id: string, name: string, description: string, settings: InfraConfig['schedule'], input: object) =>
      new SchedulerSchedule(this, id, {
        name,
        groupName: this.scheduleGroup.name,
        description,
        scheduleExpression: settings.expression,
        state: settings.enabled ? 'ENABLED' : 'DISABLED',
        flexibleTimeWindow: { mode: 'OFF' },
        target: {
          arn: this.stateMachine.arn,
          roleArn: this.schedulerRole.arn,
          input: JSON.stringify(input),
          retryPolicy: { ...SCHEDULE_RETRY_POLICY },
          deadLetterConfig: { arn: this.deadLetterQueue.arn },
        },
        dependsOn: [this.schedulerRole.policy],
      });
    // {"scheduled": true} runs every step, and is skipped (not failed) while an earlier run is still going (README "The state machine").
    this.schedule = schedule('schedule', config.resourcePrefix, 'Starts the ToteSys pipeline', config.schedule, SCHEDULED_INPUT);
    // {"verify": true}: compares the warehouse with ToteSys, changes nothing.
    this.verifySchedule = schedule('verify-schedule', `${config.resourcePrefix}-verify`, 'Verifies the ToteSys warehouse against ToteSys', config.verifySchedule, VERIFY_INPUT);
  }
}

/**
 * The dead-letter queue's policy: nobody but the scheduler's role may send to it (the role's own
 * policy is what allows that), and nothing reaches it but over TLS. Principals are matched by
 * `aws:PrincipalArn`, as in the bucket policies, so the role need not exist yet when it is written.
 */
export function deadLetterQueuePolicy(queueArn: string, schedulerRoleArn: string) {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'OnlyTheSchedulerSends',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:SendMessage',
        Resource: queueArn,
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': schedulerRoleArn } },
      },
      {
        Sid: 'DenyInsecureTransport',
        Effect: 'Deny',
        Principal: '*',
        Action: 'sqs:*',
        Resource: queueArn,
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      },
    ],
  };
}
