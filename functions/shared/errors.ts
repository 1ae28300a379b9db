/**
 * Errors the steps raise on purpose. The state machine matches on `name` (Lambda reports it as
 * the error type): names in RETRYABLE_ERROR_NAMES are retried with backoff, every other error
 * fails the run at once, because retrying cannot fix bad input or a changed schema. Names are
 * string literals so that bundling and minifying cannot change them.
 */
export abstract class PipelineError extends Error {
  abstract override readonly name: string;
}

/** The configuration is missing or malformed: names the variable. */
export class ConfigurationError extends PipelineError {
  override readonly name = 'ConfigurationError';
}

/** ToteSys no longer has the tables or columns the pipeline was built for. */
export class SchemaDriftError extends PipelineError {
  override readonly name = 'SchemaDriftError';
}

/** The data itself is wrong: names the table, the object or row, and the field. */
export class BadInputError extends PipelineError {
  override readonly name = 'BadInputError';
}

/** A database (ToteSys or the warehouse) could not be reached or dropped the connection: worth retrying. */
export class DatabaseUnavailableError extends PipelineError {
  override readonly name = 'DatabaseUnavailableError';
}

/** Another run committed the same batch first: a retry starts from the new state. */
export class BatchConflictError extends PipelineError {
  override readonly name = 'BatchConflictError';
}

/** The stored pipeline state does not fit the database or the lake: needs an operator. */
export class PipelineStateError extends PipelineError {
  override readonly name = 'PipelineStateError';
}

/** The errors worth retrying: the state machine's Retry matches these names. */
export const RETRYABLE_ERROR_NAMES: readonly string[] = [DatabaseUnavailableError, BatchConflictError].map((error) => new error('').name);
