/**
 * Errors the steps raise on purpose. The state machine matches on `name` (Lambda reports it as
 * the error type): names in RETRYABLE_ERROR_NAMES are retried with backoff, every other error
 * fails the run at once, because retrying cannot fix bad input or a changed schema.
 */
export class PipelineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The configuration is missing or malformed: names the variable. */
export class ConfigurationError extends PipelineError {}

/** ToteSys no longer has the tables or columns the pipeline was built for. */
export class SchemaDriftError extends PipelineError {}

/** The data itself is wrong: names the table, the object or row, and the field. */
export class BadInputError extends PipelineError {}

/** A database could not be reached or dropped the connection: worth retrying. */
export class SourceUnavailableError extends PipelineError {}

/** Another run committed the same batch first: a retry starts from the new state. */
export class BatchConflictError extends PipelineError {}

/** The stored pipeline state does not fit the database or the lake: needs an operator. */
export class PipelineStateError extends PipelineError {}

export const RETRYABLE_ERROR_NAMES = [SourceUnavailableError.name, BatchConflictError.name] as const;
