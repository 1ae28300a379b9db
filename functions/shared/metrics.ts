import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { PipelineFunctionName, PipelineStep } from './step-contract';
import { TOTESYS_TABLE_NAMES } from './totesys-tables';
import { WAREHOUSE_TABLE_NAMES } from './warehouse-tables';

/**
 * Every metric the pipeline publishes, defined once: read by the handlers (which publish them),
 * by infra/dashboard.ts and infra/alerting.ts (which graph and alarm on them), by the bench and
 * by the tests.
 *
 * The functions publish in CloudWatch's embedded metric format (EMF), with Powertools Metrics: a
 * JSON line on stdout, which Lambda sends to the function's log group, where CloudWatch turns it
 * into metric points. No metric filter, no `cloudwatch:PutMetricData` permission.
 *
 * One namespace, `ToteSysPipeline`, for every deployment; each point carries the dimension
 * `Deployment` (the stack's `<namePrefix>-<environment>`, e.g. `totesys-pipeline-prod`), so that
 * prod and dev never mix even in one account and region (two stacks there cannot share that
 * prefix: every resource name starts with it). Besides it, a metric has at most `Step` and
 * `Table`: CloudWatch bills each combination of name and dimension values as one metric.
 */
export const METRICS_NAMESPACE = 'ToteSysPipeline';

/** The dimensions' names. */
export const DIMENSION = { deployment: 'Deployment', step: 'Step', table: 'Table' } as const;
export type Dimension = (typeof DIMENSION)[keyof typeof DIMENSION];

/** The function environment variable holding the `Deployment` dimension's value (infra/functions.ts sets it). */
export const DEPLOYMENT_VARIABLE = 'PIPELINE_DEPLOYMENT';
/** The `Deployment` of a function run outside AWS (`npm start`, tests), where the variable is unset. */
export const LOCAL_DEPLOYMENT = 'local';

/** The EMF metadata key of the Step Functions execution (`$$.Execution.Id`): in every point's log line, not a dimension. */
export const EXECUTION_ID_KEY = 'executionId';

export interface MetricDefinition {
  readonly name: string;
  readonly unit: (typeof MetricUnit)[keyof typeof MetricUnit];
  /** Every dimension of the metric, `Deployment` first. */
  readonly dimensions: readonly Dimension[];
  /** What one point is; docs/deploy.md lists the same. */
  readonly description: string;
}

export const METRICS = {
  rows: {
    name: 'Rows',
    unit: MetricUnit.Count,
    dimensions: [DIMENSION.deployment, DIMENSION.step, DIMENSION.table],
    description:
      'rows a step committed, per table and invocation: Extract the new row versions of a ToteSys table, Transform the rows of a warehouse table, Load the rows it wrote (deletions recorded: source_row_deletions)',
  },
  batchRows: {
    name: 'BatchRows',
    unit: MetricUnit.Count,
    dimensions: [DIMENSION.deployment],
    description: 'the size of a batch Extract committed: its new row versions, all tables together (deleted keys apart)',
  },
  deletedRows: {
    name: 'DeletedRows',
    unit: MetricUnit.Count,
    dimensions: [DIMENSION.deployment, DIMENSION.table],
    description: 'keys Extract found deleted from a ToteSys table since the previous batch',
  },
  quarantinedRows: {
    name: 'QuarantinedRows',
    unit: MetricUnit.Count,
    dimensions: [DIMENSION.deployment],
    description: 'rows held in quarantine after a Transform invocation (0 when none)',
  },
  mismatchedRows: {
    name: 'MismatchedRows',
    unit: MetricUnit.Count,
    dimensions: [DIMENSION.deployment],
    description: 'warehouse rows a verification found differing from ToteSys (0 when none)',
  },
  changeLag: {
    name: 'ChangeLagSeconds',
    unit: MetricUnit.Seconds,
    dimensions: [DIMENSION.deployment],
    description: 'for each batch Load committed, how old its newest ToteSys change (last_updated) was: the freshness of the warehouse right after it',
  },
  stepDuration: {
    name: 'StepDuration',
    unit: MetricUnit.Milliseconds,
    dimensions: [DIMENSION.deployment, DIMENSION.step],
    description: 'how long a successful invocation of a step (or of Verify) took; a failed one publishes none',
  },
} as const satisfies Record<string, MetricDefinition>;

export type PipelineMetric = (typeof METRICS)[keyof typeof METRICS];

/** The `Table` values each step publishes `Rows` for (the dashboard draws one line for each). */
export const ROWS_TABLES: Readonly<Record<PipelineStep, readonly string[]>> = {
  extract: TOTESYS_TABLE_NAMES,
  transform: WAREHOUSE_TABLE_NAMES,
  load: [...WAREHOUSE_TABLE_NAMES, 'source_row_deletions'],
};

type Dimensions = Partial<Record<Dimension, string>>;

interface Point {
  readonly metric: PipelineMetric;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly value: number;
}

/** EMF holds at most 100 values of one metric in one line (Powertools publishes early past that). */
const VALUES_PER_LINE = 100;

/**
 * The metrics of one function's invocation: points are gathered while it runs, and `publish()`
 * writes them, one EMF line per set of dimension values, each with the execution id as metadata.
 * `POWERTOOLS_METRICS_DISABLED=true` (which `npm start` sets) or `POWERTOOLS_DEV=true`, read when
 * this is constructed, writes nothing; nothing is ever written when there is nothing to publish.
 */
export class StepMetrics {
  private readonly metrics: Metrics;
  private readonly deployment: string;
  private points: Point[] = [];
  private executionId: string | undefined;

  constructor(
    readonly step: PipelineFunctionName,
    env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.metrics = new Metrics({ namespace: METRICS_NAMESPACE });
    // No `service` dimension: the dimensions are exactly the definitions' (what the alarms read).
    this.metrics.clearDefaultDimensions();
    this.deployment = env[DEPLOYMENT_VARIABLE]?.trim() || LOCAL_DEPLOYMENT;
  }

  /** Starts an invocation: forgets unpublished points, and tags what follows with its execution (when it has one). */
  begin(executionId: string | undefined): void {
    this.points = [];
    this.executionId = executionId;
  }

  rows(table: string, value: number): void {
    this.add(METRICS.rows, value, { [DIMENSION.table]: table });
  }

  batchRows(value: number): void {
    this.add(METRICS.batchRows, value);
  }

  deletedRows(table: string, value: number): void {
    this.add(METRICS.deletedRows, value, { [DIMENSION.table]: table });
  }

  quarantinedRows(value: number): void {
    this.add(METRICS.quarantinedRows, value);
  }

  mismatchedRows(value: number): void {
    this.add(METRICS.mismatchedRows, value);
  }

  changeLag(seconds: number): void {
    this.add(METRICS.changeLag, seconds);
  }

  stepDuration(milliseconds: number): void {
    this.add(METRICS.stepDuration, Math.round(milliseconds));
  }

  /** Writes the gathered points and forgets them. */
  publish(): void {
    const groups = new Map<string, Point[]>();
    for (const point of this.points) {
      const key = JSON.stringify(point.dimensions);
      groups.set(key, [...(groups.get(key) ?? []), point]);
    }
    this.points = [];
    for (const points of groups.values()) {
      const byName = new Map<PipelineMetric, number[]>();
      for (const point of points) byName.set(point.metric, [...(byName.get(point.metric) ?? []), point.value]);
      const lines = Math.max(...[...byName.values()].map((values) => Math.ceil(values.length / VALUES_PER_LINE)));
      for (let line = 0; line < lines; line += 1) {
        for (const [name, value] of Object.entries(points[0]!.dimensions)) this.metrics.addDimension(name, value);
        if (this.executionId) this.metrics.addMetadata(EXECUTION_ID_KEY, this.executionId);
        for (const [metric, values] of byName) {
          for (const value of values.slice(line * VALUES_PER_LINE, (line + 1) * VALUES_PER_LINE)) this.metrics.addMetric(metric.name, metric.unit, value);
        }
        this.metrics.publishStoredMetrics();
      }
    }
  }

  private add(metric: PipelineMetric, value: number, extra: Dimensions = {}): void {
    if (!Number.isFinite(value)) return;
    const given: Dimensions = { [DIMENSION.deployment]: this.deployment, [DIMENSION.step]: this.step, ...extra };
    const dimensions = Object.fromEntries(metric.dimensions.map((name) => [name, given[name]!]));
    this.points.push({ metric, dimensions, value });
  }
}
