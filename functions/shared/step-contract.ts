import type { TotesysTableName } from './totesys-tables';
import type { WarehouseTableName } from './warehouse-tables';

/**
 * The contract between the state machine and the steps, defined once: each step's input and
 * output, where the execution keeps each output, and the input that re-runs an execution from a
 * step. The handlers, state-machine/definition.ts, the re-run tool (state-machine/rerun.ts) and the
 * local runner (scripts/local/execution.ts) all read it from here; docs/vocabulary.md names the
 * concepts.
 *
 * One name per concept:
 * - `batchId`: one batch, by its ten-digit sequence number.
 * - `upToBatchId`: as an input, the newest batch a step works up to (null or absent: the newest
 *   there is); as an output, the newest batch the step's store holds once the step is done (the
 *   ingestion bucket for Extract, the processed bucket for Transform, the warehouse for Load),
 *   which is what the next step works up to.
 */

/** The steps of a pipeline execution, in order. */
export type PipelineStep = 'extract' | 'transform' | 'load';
export const PIPELINE_STEPS: readonly PipelineStep[] = ['extract', 'transform', 'load'];

/** Every Lambda the state machine invokes: the three steps, and the verification. */
export type PipelineFunctionName = PipelineStep | 'verify';
export const PIPELINE_FUNCTIONS: readonly PipelineFunctionName[] = [...PIPELINE_STEPS, 'verify'];

/** What every function is given: the execution's id, for the logs and the metrics only. */
export interface StepInput {
  readonly executionId?: string;
}

/** Transform's and Load's input: Extract's (or Transform's) `upToBatchId`, or an operator's. */
export interface BatchStepInput extends StepInput {
  readonly upToBatchId?: string | null;
}

export type ExtractInput = StepInput;
export type TransformInput = BatchStepInput;
export type LoadInput = BatchStepInput;
export type VerifyInput = StepInput;

/** What Extract hands to the state machine: references and counts, never rows. */
export interface ExtractOutput {
  /** The batch this invocation committed, or null when nothing changed since the last batch. */
  readonly batchId: string | null;
  readonly manifestKey: string | null;
  /** The newest committed batch (this invocation's, or an earlier one): what Transform works up to. */
  readonly upToBatchId: string | null;
  readonly rows: Partial<Record<TotesysTableName, number>>;
  /** Keys deleted since the last batch, per table. */
  readonly deleted: Partial<Record<TotesysTableName, number>>;
  readonly totalRows: number;
}

/** What Transform hands to the state machine: references and counts, never rows. */
export interface TransformOutput {
  /** The newest transformed batch (what Load works up to), or null before the first. */
  readonly upToBatchId: string | null;
  /** The batches this invocation transformed, oldest first (empty when all were done already). */
  readonly transformedBatchIds: readonly string[];
  readonly rows: Partial<Record<WarehouseTableName, number>>;
  readonly quarantine: QuarantineSummary;
}

/** The quarantine after a Transform invocation, and what its batches did to it. */
export interface QuarantineSummary {
  readonly held: number;
  readonly added: number;
  readonly released: number;
  readonly closed: number;
  /** The first held rows, to show and alert on (the processed bucket holds them all). */
  readonly rows: readonly QuarantinedRowSummary[];
  /** The alert's text when rows are held (empty otherwise): what is held, why, and what happens next. */
  readonly message: string;
}

export interface QuarantinedRowSummary {
  readonly table: string;
  readonly key: string | null;
  readonly field: string | null;
  readonly reason: string;
  readonly batchId: string;
  readonly heldSince: string;
}

/** What Load writes: the star-schema tables and the deletions it records. */
export type LoadedTableName = WarehouseTableName | 'source_row_deletions';

/** What Load hands to the state machine: references and counts, never rows. */
export interface LoadOutput {
  /** The newest batch in the warehouse after this invocation, or null before the first. */
  readonly upToBatchId: string | null;
  /** The batches this invocation loaded, oldest first (empty when all were loaded already). */
  readonly loadedBatchIds: readonly string[];
  /** Rows written per table (a version or dimension row already present is not counted), deletions recorded included. */
  readonly rows: Partial<Record<LoadedTableName, number>>;
}

/** What a verification hands to the state machine: the counts per table (the keys are in the log). */
export interface VerifyOutput {
  /** The batch the warehouse was compared as of: the last one loaded. */
  readonly batchId: string;
  readonly mismatchedRows: number;
  readonly tables: Readonly<Record<string, { compared: number; missing: number; extra: number; different: number; changedSince: number }>>;
}

/** Where an execution keeps each function's output: `$.<path>` of its state. */
export const OUTPUT_PATH: Readonly<Record<PipelineFunctionName, string>> = {
  extract: 'extract',
  transform: 'transform',
  load: 'load',
  verify: 'verification',
};

/** The step whose output's `upToBatchId` a step is given. */
export const UP_TO_BATCH_FROM: Readonly<Record<Exclude<PipelineStep, 'extract'>, PipelineStep>> = { transform: 'extract', load: 'transform' };

/** The JSONPath, in an execution's state, of the `upToBatchId` that `step` is given. */
export function upToBatchPath(step: Exclude<PipelineStep, 'extract'>): string {
  return `$.${OUTPUT_PATH[UP_TO_BATCH_FROM[step]]}.upToBatchId`;
}

/** The input of a verification execution (the verification schedule's, and `npm start -- --verify`'s). */
export const VERIFY_INPUT = { verify: true } as const;
/** The input of a scheduled pipeline execution: it is skipped, not failed, when an earlier one is still going. */
export const SCHEDULED_INPUT = { scheduled: true } as const;

/**
 * The input that re-runs an execution from a step: `{"resumeFrom": "<step>", "upToBatchId": "…"}`
 * (without `upToBatchId`, or with null, the step works up to the newest batch), `{"verify": true}` for a
 * verification, and `{}` (a whole run) when there is nothing to resume.
 */
export type RerunInput = { readonly resumeFrom: PipelineStep; readonly upToBatchId?: string | null } | typeof VERIFY_INPUT | Record<string, never>;

/**
 * The input that re-runs an execution from `step`, given the input that step was given: the rule
 * the re-run tool and the local runner apply to what they read, and the state machine's
 * `<Step>Failed` states apply in JSONPath ({@link rerunInputParameters}).
 */
export function rerunInput(step: PipelineFunctionName, given: BatchStepInput = {}): RerunInput {
  if (step === 'verify') return { ...VERIFY_INPUT };
  if (step === 'extract') return { resumeFrom: step };
  return { resumeFrom: step, upToBatchId: given.upToBatchId ?? null };
}

/** {@link rerunInput} as the Parameters of a Pass state, read from the execution's state. */
export function rerunInputParameters(step: PipelineFunctionName): Record<string, unknown> {
  if (step === 'verify' || step === 'extract') return { ...rerunInput(step) };
  return { resumeFrom: step, 'upToBatchId.$': upToBatchPath(step) };
}
