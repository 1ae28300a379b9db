import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { CloudwatchLogMetricFilter } from '@cdktf/provider-aws/lib/cloudwatch-log-metric-filter';
import { Construct } from 'constructs';
import { PIPELINE_FUNCTIONS, PIPELINE_STEPS, type PipelineStep } from '../state-machine/definition';
import type { PipelineAlerting } from './alerting';
import type { InfraConfig } from './config';
import { QUARANTINE_METRIC, VERIFY_METRIC, type PipelineFunctions } from './functions';

/**
 * Metrics read from the steps' structured logs (one JSON object a line, Powertools logger): each
 * "table …" event carries `table` and `rows`, and Load's "batch loaded" carries
 * `changeLagSeconds`, the age of the newest ToteSys change it brought into the warehouse.
 */
export const ROW_METRICS: Readonly<Record<PipelineStep, { readonly message: string; readonly metricName: string }>> = {
  extract: { message: 'table extracted', metricName: 'RowsExtracted' },
  transform: { message: 'table transformed', metricName: 'RowsTransformed' },
  load: { message: 'table loaded', metricName: 'RowsLoaded' },
};
export const FRESHNESS_METRIC = { message: 'batch loaded', metricName: 'ChangeLagSeconds' } as const;

/** The period of the dashboard's graphs: one point per scheduled run, at the default schedule. */
const PERIOD = 900;

export interface PipelineDashboardProps {
  readonly config: InfraConfig;
  readonly functions: PipelineFunctions;
  readonly stateMachineArn: string;
  readonly alerting: PipelineAlerting;
}

/** The log metric filters, and one CloudWatch dashboard: runs, steps, rows per table, freshness, verification, quarantine, alarms. */
export class PipelineDashboard extends Construct {
  /** `<namePrefix>/<environment>`: the custom metrics' namespace. */
  readonly namespace: string;
  readonly dashboard: CloudwatchDashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const { config, functions, stateMachineArn } = props;
    this.namespace = `${config.namePrefix}/${config.environment}`;

    for (const step of PIPELINE_STEPS) {
      const { message, metricName } = ROW_METRICS[step];
      new CloudwatchLogMetricFilter(this, `${step}-rows`, {
        name: `${config.resourcePrefix}-${metricName}`,
        logGroupName: functions.steps[step].logGroup.name,
        pattern: `{ $.message = "${message}" }`,
        metricTransformation: { namespace: this.namespace, name: metricName, value: '$.rows', dimensions: { table: '$.table' }, unit: 'Count' },
      });
    }
    new CloudwatchLogMetricFilter(this, 'freshness', {
      name: `${config.resourcePrefix}-${FRESHNESS_METRIC.metricName}`,
      logGroupName: functions.steps.load.logGroup.name,
      // A batch without a datable change logs changeLagSeconds: null; the comparison skips it.
      pattern: `{ ($.message = "${FRESHNESS_METRIC.message}") && ($.changeLagSeconds >= 0) }`,
      metricTransformation: { namespace: this.namespace, name: FRESHNESS_METRIC.metricName, value: '$.changeLagSeconds', unit: 'Seconds' },
    });

    const region = config.region;
    const execution = (metric: string, extra: Record<string, unknown> = {}) => ['AWS/States', metric, 'StateMachineArn', stateMachineArn, extra];
    const perFunction = (metric: string, stat: string) =>
      PIPELINE_FUNCTIONS.map((name) => ['AWS/Lambda', metric, 'FunctionName', functions.steps[name].lambda.functionName, { stat, label: `${name} ${metric.toLowerCase()}` }]);
    // One line per table, whichever tables the logs name: a search over the metric's `table` dimension.
    const rowsPerTable = (step: PipelineStep) => [
      [{ expression: `SEARCH('{"${this.namespace}",table} MetricName="${ROW_METRICS[step].metricName}"', 'Sum', ${PERIOD})`, id: step }],
    ];
    const graph = (x: number, y: number, width: number, title: string, metrics: unknown[], extra: Record<string, unknown> = {}) => ({
      type: 'metric',
      x,
      y,
      width,
      height: 6,
      properties: { title, region, view: 'timeSeries', stacked: false, period: PERIOD, metrics, ...extra },
    });

    const widgets = [
      {
        type: 'text',
        x: 0,
        y: 0,
        width: 24,
        height: 2,
        properties: {
          markdown: `# ToteSys pipeline (${config.environment})\nExtract → Transform → Load, started ${config.schedule.expression}; the warehouse is verified against ToteSys ${config.verifySchedule.expression}. Failures are emailed to the alert topic; re-running a failed step: README "Operating it". What each widget means: docs/deploy.md.`,
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
      graph(0, 8, 12, 'Step duration, maximum (ms)', perFunction('Duration', 'Maximum')),
      graph(12, 8, 12, 'Step errors and throttles', [...perFunction('Errors', 'Sum'), ...perFunction('Throttles', 'Sum')]),
      graph(0, 14, 8, 'Rows extracted per table', rowsPerTable('extract'), { stacked: true }),
      graph(8, 14, 8, 'Rows transformed per table', rowsPerTable('transform'), { stacked: true }),
      graph(16, 14, 8, 'Rows loaded per table', rowsPerTable('load'), { stacked: true }),
      graph(
        0,
        20,
        24,
        'Freshness: age of the newest ToteSys change when it reached the warehouse (s)',
        [[this.namespace, FRESHNESS_METRIC.metricName, { stat: 'Maximum', label: 'change lag' }]],
        { annotations: { horizontal: [{ label: `${config.staleAfterHours} h`, value: config.staleAfterHours * 3600, color: '#d62728' }] }, yAxis: { left: { min: 0 } } },
      ),
      graph(
        0,
        26,
        12,
        'Verification: warehouse rows that differ from ToteSys',
        [[VERIFY_METRIC.namespace, VERIFY_METRIC.metricName, { stat: 'Maximum', label: 'mismatched rows' }]],
        { annotations: { horizontal: [{ label: 'alarm above 0', value: 0, color: '#d62728' }] }, yAxis: { left: { min: 0 } } },
      ),
      graph(
        12,
        26,
        12,
        'Rows in quarantine',
        [[QUARANTINE_METRIC.namespace, QUARANTINE_METRIC.metricName, { stat: 'Maximum', label: 'held rows' }]],
        { annotations: { horizontal: [{ label: 'alarm above 0', value: 0, color: '#d62728' }] }, yAxis: { left: { min: 0 } } },
      ),
    ];

    this.dashboard = new CloudwatchDashboard(this, 'dashboard', {
      dashboardName: config.resourcePrefix,
      dashboardBody: JSON.stringify({ widgets }),
    });
  }
}
