import { SFNClient } from '@aws-sdk/client-sfn';
import { LOCAL_ARNS } from '../state-machine/local-definition';
import { rerunExecution } from '../state-machine/rerun';
import { readCommandLine } from './cli';

/**
 * npm run rerun -- <execution ARN>
 *
 * Reads a failed execution of the pipeline's state machine, finds the step that failed and its
 * batch, and starts a new execution from that step. Uses the usual AWS credentials and region
 * (AWS_PROFILE, AWS_REGION …); AWS_ENDPOINT_URL_SFN points it at an emulator.
 */
const USAGE = `npm run rerun -- <execution ARN>

Re-runs a failed execution of the pipeline's state machine in AWS from the step that failed: reads
its history, finds the step and its batch, and starts a new execution with the input that resumes
there. Uses the usual AWS credentials and region (AWS_PROFILE, AWS_REGION …); AWS_ENDPOINT_URL_SFN
points it at an emulator. The ARN is arn:aws:states:<region>:<account>:execution:<state machine>:<name>.
A local execution (npm start) is re-run with npm start -- --from <extract|transform|load> instead.

  --help`;

/** The state machine `npm start` runs: its executions are on this machine, not in AWS. */
const LOCAL_EXECUTION_PREFIX = LOCAL_ARNS.execution('');

async function main(): Promise<number> {
  const line = readCommandLine(process.argv.slice(2), { usage: USAGE, options: {}, positionals: 1 });
  if (typeof line === 'number') return line;
  const executionArn = line.positionals[0];
  if (!executionArn?.startsWith('arn:aws:states:')) {
    console.error(`${executionArn ? `Not an execution ARN: "${executionArn}"` : 'Give the ARN of the execution to re-run'}\n\n${USAGE}`);
    return 2;
  }
  if (executionArn.startsWith(LOCAL_EXECUTION_PREFIX)) {
    console.error(`${executionArn} is a local execution (npm start): re-run it with npm start -- --from <extract|transform|load> (the step it failed at; its failure message names it).`);
    return 2;
  }
  const region = executionArn.split(':')[3];
  const result = await rerunExecution(new SFNClient({ region }), executionArn);
  console.log(`Re-running from ${JSON.stringify(result.input)}: ${result.executionArn}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`rerun: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
