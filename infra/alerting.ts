import { CloudwatchMetricAlarm, type CloudwatchMetricAlarmConfig } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { Construct } from 'constructs';
import { DIMENSION, METRICS, METRICS_NAMESPACE, type PipelineMetric } from '../functions/shared/metrics';
import { WAREHOUSE_MISMATCH_ERROR } from '../state-machine/definition';
import { PIPELINE_FUNCTIONS } from '../functions/shared/step-contract';
import { schedulePeriodSeconds, type InfraConfig } from './config';
import type { PipelineFunctions } from './functions';

/** The duration alarm fires when a successful step gets this close to its timeout. */
export const DURATION_ALARM_FRACTION = 0.8;

/** Fires when the metric's sum over five minutes is above zero; no data is no news. */
const ANY_IN_FIVE_MINUTES = {
  statistic: 'Sum',
  period: 300,
  evaluationPeriods: 1,
  threshold: 0,
  comparisonOperator: 'GreaterThanThreshold',
  treatMissingData: 'notBreaching',
} as const;

/** A gauge above zero at any point in five minutes; no point is no news (the metric is published only when there is something to count). */
const ABOVE_ZERO_IN_FIVE_MINUTES = { ...ANY_IN_FIVE_MINUTES, statistic: 'Maximum' } as const;

export interface PipelineAlarmTargets {
  readonly stateMachineArn: string;
  readonly functions: PipelineFunctions;
  /** The schedules' group: EventBridge Scheduler publishes its metrics per group. */
  readonly scheduleGroupName: string;
  readonly deadLetterQueueName: string;
}

/**
 * The alert topic and the alarms. One email per failed execution: the state machine's
 * NotifyFailure state sends it (naming the step, the error and the input that re-runs it), and a
 * verification that finds differences, which fails without it, is emailed by the mismatched-rows
 * alarm. So the alarms that every failure also trips (failed executions, a function's errors and
 * throttles) send nothing: they stay on the dashboard's alarm widget. The alarms that email each
 * mean one thing no failure email says (docs/deploy.md, "When an alarm fires").
 *
 * The topic is not KMS-encrypted: CloudWatch alarms cannot publish to a topic under the
 * AWS-managed SNS key.
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

  /** Alarms on the state machine's executions, the pipeline's metrics, each function and the schedules. */
  watch({ stateMachineArn, functions, scheduleGroupName, deadLetterQueueName }: PipelineAlarmTargets): void {
    const prefix = this.config.resourcePrefix;
    const execution = { namespace: 'AWS/States', dimensions: { StateMachineArn: stateMachineArn } };
    /** One of the pipeline's own metrics, for this deployment (and the given step). */
    const pipelineMetric = (metric: PipelineMetric, step?: string) => ({
      namespace: METRICS_NAMESPACE,
      metricName: metric.name,
      dimensions: { [DIMENSION.deployment]: prefix, ...(step ? { [DIMENSION.step]: step } : {}) },
    });
    const schedulePeriod = schedulePeriodSeconds(this.config.schedule.expression);

    this.alarm(
      'execution-failed',
      {
        alarmName: `${prefix}-execution-failed`,
        alarmDescription:
          'A pipeline execution failed (a signal for the dashboard: it sends no email). Each failure is emailed once already: by the state machine (subject "ToteSys pipeline failed at <step>", with the input that re-runs it), ' +
          `or, for a verification that found the warehouse differing from ToteSys (error ${WAREHOUSE_MISMATCH_ERROR}), by the ${prefix}-mismatched-rows alarm. Act on that email.`,
        ...execution,
        metricName: 'ExecutionsFailed',
        ...ANY_IN_FIVE_MINUTES,
      },
      { email: false },
    );
    const hours = this.config.staleAfterHours;
    this.alarm('no-successful-execution', {
      alarmName: `${prefix}-no-successful-execution`,
      alarmDescription:
        `No pipeline execution succeeded for ${hours} hour(s): the warehouse is going stale. If failure emails came meanwhile, fix that failure and re-run (docs/deploy.md, "Re-running a failed step"); ` +
        `if none came, nothing is starting: check that the schedule ${prefix} is enabled, its ${prefix}-scheduler-dlq queue and the Executions widget.`,
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
        `The verification found rows in the warehouse that differ from ToteSys (metric ${METRICS_NAMESPACE}/${METRICS.mismatchedRows.name}, the count). ` +
        `Open the FAILED verification execution (input {"verify": true}, error ${WAREHOUSE_MISMATCH_ERROR}): its Verify step output gives the counts per table. ` +
        'Run npm run verify against the same databases to see the rows, then see docs/deploy.md "When the warehouse differs". Nothing was changed by the verification.',
      ...pipelineMetric(METRICS.mismatchedRows),
      // The metric has a point only when a verification ran: no point is no news, not a mismatch.
      ...ABOVE_ZERO_IN_FIVE_MINUTES,
    });

    this.alarm(
      'quarantined-rows',
      {
        alarmName: `${prefix}-quarantined-rows`,
        alarmDescription:
          `Transform holds ToteSys rows in quarantine (metric ${METRICS_NAMESPACE}/${METRICS.quarantinedRows.name}, the count after each run): ` +
          'rows that failed a check (a malformed value, a day outside the accepted range, a reference to a row not delivered yet); the warehouse keeps their previous version, if any; everything else was loaded and runs go on. ' +
          'npm run quarantine lists the rows and why (with PROCESSED_BUCKET set to the processed bucket); docs/quarantine.md is the policy. ' +
          'Fix them in ToteSys (a row waiting for the one it references needs nothing): every run retries them, and a row flows in by itself once it passes. ' +
          'This alarm emails again, as OK, when the quarantine is empty.',
        ...pipelineMetric(METRICS.quarantinedRows),
        statistic: 'Maximum',
        // One point per run: a period as long as the schedule's gap between starts holds one.
        period: schedulePeriod,
        evaluationPeriods: 1,
        threshold: 0,
        comparisonOperator: 'GreaterThanThreshold',
        // No point is no run (or a run that ended before Transform): no news, not held rows.
        treatMissingData: 'notBreaching',
      },
      // One email when rows start being held, one when the quarantine is empty again.
      { email: true, okEmail: true },
    );

    const lagMinutes = this.config.maxChangeLagMinutes;
    this.alarm('freshness', {
      alarmName: `${prefix}-freshness`,
      alarmDescription:
        `Runs succeed, but the warehouse is more than ${lagMinutes} minutes behind ToteSys even right after a load: the newest change Load brought in during a schedule period was already that old ` +
        `(metric ${METRICS_NAMESPACE}/${METRICS.changeLag.name}, its minimum over the period, so catching up after an outage does not fire it). ` +
        'Look at the dashboard: runs slower than the schedule (Execution time, Step duration: give the slow step more memory), or a constant lag (the ToteSys application stamps last_updated with a clock that is not UTC). ' +
        'A quiet ToteSys loads nothing and publishes no point: that is not staleness. See docs/deploy.md "When the freshness line climbs".',
      ...pipelineMetric(METRICS.changeLag),
      statistic: 'Minimum',
      period: schedulePeriod,
      evaluationPeriods: 1,
      threshold: lagMinutes * 60,
      comparisonOperator: 'GreaterThanThreshold',
      // A point exists only when a batch with changes was loaded: no point is "nothing new", not stale.
      treatMissingData: 'notBreaching',
    });

    const deadLetters = { namespace: 'AWS/SQS', dimensions: { QueueName: deadLetterQueueName } };
    this.alarm('scheduler-dead-letters', {
      alarmName: `${prefix}-scheduler-dead-letters`,
      alarmDescription:
        `EventBridge Scheduler could not start the state machine after its retries, and left the start in the queue ${deadLetterQueueName} (ApproximateNumberOfMessagesVisible > 0): a run or a verification did not happen. ` +
        'Read a message (SQS console, Send and receive messages, Poll): its error says why (the scheduler role lacking states:StartExecution, the state machine missing, throttling). ' +
        'Fix it, start the missed run by hand if it matters (the next scheduled run catches up anyway), then purge the queue: the alarm stays in ALARM, and sends nothing more, while messages remain.',
      ...deadLetters,
      metricName: 'ApproximateNumberOfMessagesVisible',
      // SQS stops publishing for a queue idle for hours: an idle dead-letter queue is the good case.
      ...ABOVE_ZERO_IN_FIVE_MINUTES,
    });
    this.alarm('scheduler-dead-letters-lost', {
      alarmName: `${prefix}-scheduler-dead-letters-lost`,
      alarmDescription:
        `EventBridge Scheduler could neither start the state machine nor put the failed start into ${deadLetterQueueName} (AWS/Scheduler InvocationsFailedToBeSentToDeadLetterCount for the schedule group ${scheduleGroupName}): ` +
        'a run or a verification did not happen and left no message. Check the scheduler role (states:StartExecution on the state machine, sqs:SendMessage on the queue), that the queue exists and its policy; then the schedule on its console page.',
      namespace: 'AWS/Scheduler',
      dimensions: { ScheduleGroup: scheduleGroupName },
      metricName: 'InvocationsFailedToBeSentToDeadLetterCount',
      ...ANY_IN_FIVE_MINUTES,
    });

    for (const step of PIPELINE_FUNCTIONS) {
      const { lambda, timeoutSeconds } = functions.steps[step];
      const lambdaMetric = { namespace: 'AWS/Lambda', dimensions: { FunctionName: lambda.functionName }, period: 300, evaluationPeriods: 1 };
      this.alarm(
        `${step}-errors`,
        {
          alarmName: `${prefix}-${step}-errors`,
          alarmDescription:
            `The ${step} function returned an error (a signal for the dashboard: it sends no email). A transient error the state machine retried successfully needs nothing; ` +
            'one that failed the execution was emailed by the state machine. Repeated errors with successful executions: a database or S3 that is often briefly unreachable.',
          ...lambdaMetric,
          metricName: 'Errors',
          statistic: 'Sum',
          threshold: 0,
          comparisonOperator: 'GreaterThanThreshold',
          treatMissingData: 'notBreaching',
        },
        { email: false },
      );
      this.alarm(
        `${step}-throttles`,
        {
          alarmName: `${prefix}-${step}-throttles`,
          alarmDescription:
            `Lambda refused to start the ${step} function: the account's concurrency is used up (a signal for the dashboard: it sends no email; the state machine retries, and emails if the execution fails). ` +
            'If it keeps happening, raise the account quota or reserve concurrency for the pipeline.',
          ...lambdaMetric,
          metricName: 'Throttles',
          statistic: 'Sum',
          threshold: 0,
          comparisonOperator: 'GreaterThanThreshold',
          treatMissingData: 'notBreaching',
        },
        { email: false },
      );
      this.alarm(`${step}-duration`, {
        alarmName: `${prefix}-${step}-duration-near-timeout`,
        alarmDescription:
          `The ${step} function succeeded but took more than ${DURATION_ALARM_FRACTION * 100}% of its ${timeoutSeconds} s timeout (metric ${METRICS_NAMESPACE}/${METRICS.stepDuration.name}, successful invocations only: a timeout itself is a failure, emailed by the state machine). ` +
          `Give it more memory (PIPELINE_${step.toUpperCase()}_MEMORY_MB; its CPU grows with it) before it times out; timeouts cannot exceed 900 s.`,
        ...pipelineMetric(METRICS.stepDuration, step),
        period: 300,
        evaluationPeriods: 1,
        statistic: 'Maximum',
        threshold: Math.round(timeoutSeconds * 1000 * DURATION_ALARM_FRACTION),
        comparisonOperator: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
      });
    }
  }

  /** An alarm; by default it emails the topic when it fires (and, with `okEmail`, when it clears). */
  private alarm(
    id: string,
    config: Omit<CloudwatchMetricAlarmConfig, 'alarmActions' | 'okActions'>,
    { email = true, okEmail = false }: { email?: boolean; okEmail?: boolean } = {},
  ): void {
    this.alarms.push(
      new CloudwatchMetricAlarm(this, id, {
        ...config,
        ...(email ? { alarmActions: [this.topic.arn] } : {}),
        ...(okEmail ? { okActions: [this.topic.arn] } : {}),
      }),
    );
  }
}
