import { SFNClient } from '@aws-sdk/client-sfn';
import { rerunExecution } from '../state-machine/rerun';

/**
 * npm run rerun -- <execution ARN>
 *
 * Reads a failed execution of the pipeline's state machine, finds the step that failed and its
 * batch, and starts a new execution from that step. Uses the usual AWS credentials and region
 * (AWS_PROFILE, AWS_REGION …); AWS_ENDPOINT_URL_SFN points it at an emulator.
 */
async function main(): Promise<void> {
  const executionArn = process.argv[2];
  if (!executionArn?.startsWith('arn:aws:states:')) {
    throw new Error('usage: npm run rerun -- <execution ARN> (arn:aws:states:<region>:<account>:execution:<state machine>:<name>)');
  }
  const region = executionArn.split(':')[3];
  const result = await rerunExecution(new SFNClient({ region }), executionArn);
  console.log(`Re-running from ${JSON.stringify(result.input)}: ${result.executionArn}`);
}

main().catch((error: unknown) => {
  console.error(`rerun: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
