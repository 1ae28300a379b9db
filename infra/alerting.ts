import { CloudwatchMetricAlarm, type CloudwatchMetricAlarmConfig } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { Construct } from 'constructs';
import { PIPELINE_FUNCTIONS, WAREHOUSE_MISMATCH_ERROR } from '../state-machine/definition';
import { schedulePeriodSeconds, type InfraConfig } from './config';
import { QUARANTINE_METRIC, VERIFY_METRIC, type PipelineFunctions } from './functions';

/** The Duration alarm fires when a step gets this close to its timeout. */
export const DURATION_ALARM_FRACTION = 0.8;

export interface PipelineAlarmTargets {
  readonly stateMachineArn: string;
  readonly functions: PipelineFunctions;
}

/**
 * The alert topic (one email per failed execution, from the state machine's NotifyFailure state,
 * plus CloudWatch alarms) and the alarms. The topic is not KMS-encrypted: CloudWatch alarms cannot
 * publish to a topic under the AWS-managed SNS key.
 */
export class PipelineAlerting extends Construct {
  readonly topic: SnsTopic;
  readonly alarms: CloudwatchMetricAlarm[] = [];
  private readonly config: InfraConfig;

  constructor(scope: Construct, id: string, config: InfraConfig) {
    super(scope, id);
    this.config = config;
    this.topic = new SnsTopic(this, 'topic', { name: `${config.resourcePrefix}-alerts`, displayName: 'ToteSys pipeline' });
    // Email subscriptions stay "pending confirmation" until the recipient clicks the link AWS sends.
    new SnsTopicSubscription(this, 'email', { topicArn: this.topic.arn, protocol: 'email', endpoint: config.alertEmail });
  }

  /** Alarms on the state machine's executions and on each step's function. */
  watch({ stateMachineArn, functions }: PipelineAlarmTargets): void {
    const prefix = this.config.resourcePrefix;
    const execution = { namespace: 'AWS/States', dimensions: { StateMachineArn: stateMachineArn } };
    this.alarm('execution-failed', {
      alarmName: `${prefix}-execution-failed`,
      alarmDescription: `A pipeline execution failed. The alert email from the state machine names the step, the error and the input that re-runs it. A verification that found the warehouse differing from ToteSys fails too (error ${WAREHOUSE_MISMATCH_ERROR}), without that email: the ${prefix}-mismatched-rows alarm reports it.`,
      ...execution,
      metricName: 'ExecutionsFailed',
      statistic: 'Sum',
      period: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
      treatMissingData: 'notBreaching',
    });
    const hours = this.config.staleAfterHours;
    this.alarm('no-successful-execution', {
      alarmName: `${prefix}-no-successful-execution`,
      alarmDescription: `No pipeline execution succeeded for ${hours} hour(s): the warehouse is going stale. Check the schedule and the latest executions.`,
      ...execution,
      metricName: 'ExecutionsSucceeded',
      statistic: 'Sum',
      period: 3600,
      evaluationPeriods: hours,
      datapointsToAlarm: hours,
      threshold: 1,
      comparisonOperator: 'LessThanThreshold',
      // No data means no execution at all: that is exactly what this alarm is for.
      treatMissingData: 'breaching',
      // With the schedule switched off, nothing runs on purpose.
      actionsEnabled: this.config.schedule.enabled,
    });

    this.alarm('mismatched-rows', {
      alarmName: `${prefix}-mismatched-rows`,
      alarmDescription:
        `The verification found rows in the warehouse that differ from ToteSys (metric ${VERIFY_METRIC.namespace}/${VERIFY_METRIC.metricName}, the count). ` +
        `Open the FAILED verification execution (input {"verify": true}, error ${WAREHOUSE_MISMATCH_ERROR}): its Verify step output gives the counts per table. ` +
        'Run npm run verify against the same databases to see the rows, then see docs/deploy.md "When the warehouse differs". Nothing was changed by the verification.',
      namespace: VERIFY_METRIC.namespace,
      metricName: VERIFY_METRIC.metricName,
      statistic: 'Maximum',
      period: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
      // The metric has a point only when a verification ran: no point is no news, not a mismatch.
      treatMissingData: 'notBreaching',
    });

    this.alarm('quarantined-rows', {
      alarmName: `${prefix}-quarantined-rows`,
      alarmDescription:
        `Transform holds ToteSys rows in quarantine (metric ${QUARANTINE_METRIC.namespace}/${QUARANTINE_METRIC.metricName}, the count after each run): ` +
        'rows that failed a check (a malformed value, a day outside the accepted range, a reference to a row not delivered yet); the warehouse keeps their previous version, if any; everything else was loaded and runs go on. ' +
        'npm run quarantine lists the rows and why (with PROCESSED_BUCKET set to the processed bucket); docs/quarantine.md is the policy. ' +
        'Fix them in ToteSys (a row waiting for the one it references needs nothing): every run retries them, and a row flows in by itself once it passes. ' +
        'This alarm emails again, as OK, when the quarantine is empty.',
      namespace: QUARANTINE_METRIC.namespace,
      metricName: QUARANTINE_METRIC.metricName,
      statistic: 'Maximum',
      // One point per run: a period as long as the schedule's gap between starts holds one.
      period: schedulePeriodSeconds(this.config.schedule.expression),
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
      // No point is no run (or a run that ended before Transform): no news, not held rows.
      treatMissingData: 'notBreaching',
      // One email when rows start being held, one when the quarantine is empty again.
      okActions: [this.topic.arn],
    });

    for (const step of PIPELINE_FUNCTIONS) {
      const { lambda, timeoutSeconds } = functions.steps[step];
      const metric = { namespace: 'AWS/Lambda', dimensions: { FunctionName: lambda.functionName }, period: 300, evaluationPeriods: 1 };
      this.alarm(`${step}-errors`, {
        alarmName: `${prefix}-${step}-errors`,
        alarmDescription: `The ${step} function failed (the state machine may have retried it: see its execution history).`,
        ...metric,
        metricName: 'Errors',
        statistic: 'Sum',
        threshold: 0,
        comparisonOperator: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
      });
      this.alarm(`${step}-throttles`, {
        alarmName: `${prefix}-${step}-throttles`,
        alarmDescription: `The ${step} function was throttled: the account's Lambda concurrency is exhausted.`,
        ...metric,
        metricName: 'Throttles',
        statistic: 'Sum',
        threshold: 0,
        comparisonOperator: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
      });
      this.alarm(`${step}-duration`, {
        alarmName: `${prefix}-${step}-duration-near-timeout`,
        alarmDescription: `The ${step} function ran longer than ${DURATION_ALARM_FRACTION * 100}% of its ${timeoutSeconds} s timeout: give it more memory or time before it times out.`,
        ...metric,
        metricName: 'Duration',
        statistic: 'Maximum',
        threshold: Math.round(timeoutSeconds * 1000 * DURATION_ALARM_FRACTION),
        comparisonOperator: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
      });
    }
  }

  private alarm(id: string, config: Omit<CloudwatchMetricAlarmConfig, 'alarmActions'>): void {
    this.alarms.push(new CloudwatchMetricAlarm(this, id, { ...config, alarmActions: [this.topic.arn] }));
  }
}
