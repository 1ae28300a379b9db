import { WAREHOUSE_MISMATCH_ERROR } from '../../state-machine/definition';
import type { PipelineFunctionName } from '../../functions/shared/step-contract';

/**
 * What to do next about a local execution that failed, said in local terms. The alert the state
 * machine composes is written for AWS (start an execution with this input, or `npm run rerun --
 * <ARN>` with AWS credentials); neither applies to a local execution, whose ARN is a placeholder.
 * Some errors no re-run can fix: for those it says what to fix instead.
 */
export function localAdvice(errorName: string | undefined, step: PipelineFunctionName | undefined): string {
  switch (errorName) {
    case 'ConfigurationError':
      return 'This is a configuration error: re-running cannot fix it. Fix the setting the error names (an environment variable of npm start, or a secret), then run npm start again.';
    case 'SchemaDriftError':
      return 'ToteSys no longer has the tables or columns the pipeline reads: re-running cannot fix it. Restore what the error names in ToteSys (or adapt functions/shared/totesys-tables.ts to the new schema), then run npm start again.';
    case WAREHOUSE_MISMATCH_ERROR:
      return 'See the differing rows with: npm run verify (then, to repair: npm run rebuild-warehouse -- --yes).';
    case 'Aborted':
      return step ? `Resume with: npm start -- --from ${step} (or npm start: every step is safe to re-run)` : 'Run npm start again: every step is safe to re-run.';
  }
  if (step === 'verify') return 'Verify again with: npm start -- --verify';
  if (step) return `Re-run from that step with: npm start -- --from ${step}`;
  return 'Run npm start again.';
}

/** The AWS-only part of the alert's closing sentence (see NotifyFailure in state-machine/definition.ts). */
const AWS_RERUN_COMMAND = / ?\(or run: npm run rerun -- \S+\)/;

/**
 * The alert of a local execution: the alert the state machine composed (what failed, why, the
 * execution input that re-runs it), with `npm run rerun -- <ARN>`, which needs AWS and a real
 * ARN, replaced by what to do here (`localAdvice`, in short).
 */
export function localAlertMessage(message: string, step: PipelineFunctionName | undefined): string {
  if (!AWS_RERUN_COMMAND.test(message)) return message;
  const errorName = /\. Error: ([A-Za-z0-9_.]+)\. Cause: /.exec(message)?.[1];
  return message.replace(AWS_RERUN_COMMAND, ` (locally: ${shortAdvice(errorName, step)})`);
}

function shortAdvice(errorName: string | undefined, step: PipelineFunctionName | undefined): string {
  if (errorName === 'ConfigurationError' || errorName === 'SchemaDriftError') {
    return `a re-run cannot fix a ${errorName}: fix what the error names, then run npm start`;
  }
  if (step === 'verify') return 'npm start -- --verify';
  if (step) return `npm start -- --from ${step}`;
  return 'npm start';
}
