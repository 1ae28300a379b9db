import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { Construct } from 'constructs';
import { DIMENSION, METRICS, METRICS_NAMESPACE, ROWS_TABLES, type PipelineMetric } from '../functions/shared/metrics';
import { PIPELINE_FUNCTIONS, type PipelineStep } from '../functions/shared/step-contract';
import type { PipelineAlerting } from './alerting';
import type { InfraConfig } from './config';
import type { PipelineFunctions } from './functions';

/** The period of the dashboard's graphs: one point per scheduled run, at the default schedule. */
const PERIOD = 900;

export interface PipelineDashboardProps {
  readonly config: InfraConfig;
  readonly functions: PipelineFunctions;
  readonly stateMachineArn: string;
  readonly alerting: PipelineAlerting;
  readonly scheduleGroupName: string;
  readonly deadLetterQueueName: string;
}

/**
 * One CloudWatch dashboard: runs, steps, rows per table, batch sizes and deletions, freshness,
 * verification, quarantine, the schedules and the alarms. The pipeline's own graphs read the
 * metrics the functions publish in the embedded metric format (functions/shared/metrics.ts), for
 * this deployment only (dimension `Deployment`).
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: CloudwatchDashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const { config, functions, stateMachineArn } = props;
    const deployment = config.resourcePrefix;

    const region = config.region;
    const execution = (metric: string, extra: Record<string, unknown> = {}) => ['AWS/States', metric, 'StateMachineArn', stateMachineArn, extra];
    const perFunction = (metric: string, stat: string) =>
      PIPELINE_FUNCTIONS.map((name) => ['AWS/Lambda', metric, 'FunctionName', functions.steps[name].lambda.functionName, { stat, label: `${name} ${metric.toLowerCase()}` }]);
    /** A line of one of the pipeline's metrics: its dimensions in the definition's order, Deployment first. */
    const pipeline = (metric: PipelineMetric, values: { step?: string; table?: string }, options: Record<string, unknown>) => {
      const given: Record<string, string | undefined> = { [DIMENSION.deployment]: deployment, [DIMENSION.step]: values.step, [DIMENSION.table]: values.table };
      return [METRICS_NAMESPACE, metric.name, ...metric.dimensions.flatMap((name) => [name, given[name]!]), options];
    };
    // One line per table the step reports (an idle table draws nothing).
    const rowsPerTable = (step: PipelineStep) => ROWS_TABLES[step].map((table) => pipeline(METRICS.rows, { step, table }, { stat: 'Sum', label: table }));
    const graph = (x: number, y: number, width: number, title: string, metrics: unknown[], extra: Record<string, unknown> = {}) => ({
      type: 'metric',
      x,
      y,
      width,
      height: 6,
      properties: { title, region, view: 'timeSeries', stacked: false, period: PERIOD, metrics, ...extra },
    });
    const fromZero = { yAxis: { left: { min: 0 } } };
    const alarmAboveZero = { annotations: { horizontal: [{ label: 'alarm above 0', value: 0, color: '#d62728' }] }, ...fromZero };

    const widgets = [
      {
        type: 'text',
        x: 0,
        y: 0,
        width: 24,
        height: 2,
        properties: {
          markdown: `# ToteSys pipeline (${config.environment})\nExtract → Transform → Load, started ${config.schedule.expression}; the warehouse is verified against ToteSys ${config.verifySchedule.expression}. Each failed execution is emailed once; re-running a failed step: README "Operating it". What each widget and alarm means: docs/deploy.md.`,
        },
      },
      graph(0, 2, 8, 'Executions', [
        execution('ExecutionsStarted', { stat: 'Sum', label: 'started' }),
        execution('ExecutionsSucceeded', { stat: 'Sum', label: 'succeeded', color: '#2ca02c' }),
        execution('ExecutionsFailed', { stat: 'Sum', label: 'failed', color: '#d62728' }),
      ]),
      graph(8, 2, 8, 'Execution time (ms)', [
        execution('ExecutionTime', { stat: 'Average', label: 'average' }),
        execution('ExecutionTime', { stat: 'Maximum', label: 'maximum' }),
      ]),
      {
        type: 'alarm',
        x: 16,
        y: 2,
        width: 8,
        height: 6,
        properties: { title: 'Alarms', alarms: props.alerting.alarms.map((alarm) => alarm.arn) },
      },
      graph(
        0,
        8,
        12,
        'Step duration, maximum (ms)',
        PIPELINE_FUNCTIONS.map((step) => pipeline(METRICS.stepDuration, { step }, { stat: 'Maximum', label: step })),
        fromZero,
      ),
      graph(12, 8, 12, 'Step errors and throttles', [...perFunction('Errors', 'Sum'), ...perFunction('Throttles', 'Sum')]),
      graph(0, 14, 8, 'Rows extracted per table', rowsPerTable('extract'), { stacked: true }),
      graph(8, 14, 8, 'Rows transformed per table', rowsPerTable('transform'), { stacked: true }),
      graph(16, 14, 8, 'Rows loaded per table', rowsPerTable('load'), { stacked: true }),
      graph(
        0,
        20,
        8,
        'Batch size (rows) and deletions',
        [
          pipeline(METRICS.batchRows, {}, { stat: 'Maximum', label: 'largest batch' }),
          pipeline(METRICS.batchRows, {}, { stat: 'SampleCount', label: 'batches committed', yAxis: 'right' }),
          ...ROWS_TABLES.extract.map((table) => pipeline(METRICS.deletedRows, { table }, { stat: 'Sum', label: `deleted from ${table}` })),
        ],
        fromZero,
      ),
      graph(
        8,
        20,
        16,
        'Freshness: age of the newest ToteSys change when it reached the warehouse (s)',
        [
          pipeline(METRICS.changeLag, {}, { stat: 'Minimum', label: 'newest batch loaded (the alarm reads this)' }),
          pipeline(METRICS.changeLag, {}, { stat: 'Maximum', label: 'oldest batch loaded' }),
        ],
        {
          annotations: { horizontal: [{ label: `alarm above ${config.maxChangeLagMinutes} min`, value: config.maxChangeLagMinutes * 60, color: '#d62728' }] },
          ...fromZero,
        },
      ),
      graph(
        0,
        26,
        12,
        'Verification: warehouse rows that differ from ToteSys',
        [pipeline(METRICS.mismatchedRows, {}, { stat: 'Maximum', label: 'mismatched rows' })],
        alarmAboveZero,
      ),
      graph(12, 26, 12, 'Rows in quarantine', [pipeline(METRICS.quarantinedRows, {}, { stat: 'Maximum', label: 'held rows' })], alarmAboveZero),
      graph(
        0,
        32,
        12,
        'Schedules: starts and failed starts',
        [
          ['AWS/Scheduler', 'InvocationAttemptCount', 'ScheduleGroup', props.scheduleGroupName, { stat: 'Sum', label: 'start attempts' }],
          ['AWS/Scheduler', 'TargetErrorCount', 'ScheduleGroup', props.scheduleGroupName, { stat: 'Sum', label: 'attempts refused (retried)', color: '#ff7f0e' }],
          ['AWS/Scheduler', 'InvocationsSentToDeadLetterCount', 'ScheduleGroup', props.scheduleGroupName, { stat: 'Sum', label: 'starts given up (dead letters)', color: '#d62728' }],
          ['AWS/Scheduler', 'InvocationsFailedToBeSentToDeadLetterCount', 'ScheduleGroup', props.scheduleGroupName, { stat: 'Sum', label: 'dead letters lost', color: '#9467bd' }],
        ],
        fromZero,
      ),
      graph(
        12,
        32,
        12,
        'Scheduler dead-letter queue: messages waiting',
        [['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', props.deadLetterQueueName, { stat: 'Maximum', label: 'failed starts not yet read' }]],
        alarmAboveZero,
      ),
    ];

    this.dashboard = new CloudwatchDashboard(this, 'dashboard', {
      dashboardName: config.resourcePrefix,
      dashboardBody: JSON.stringify({ widgets }),
    });
  }
}
