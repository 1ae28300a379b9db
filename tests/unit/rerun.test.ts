import { SFNClient, type HistoryEvent } from '@aws-sdk/client-sfn';
import { rerunExecution, rerunInputFromHistory } from '../../state-machine/rerun';

/** History events shaped as GetExecutionHistory returns them (includeExecutionData: true). */
const entered = (id: number, name: string, input: object): HistoryEvent =>
  ({ id, type: 'TaskStateEntered', timestamp: new Date(), stateEnteredEventDetails: { name, input: JSON.stringify(input) } }) as HistoryEvent;
const exited = (id: number, name: string, output: object): HistoryEvent =>
  ({ id, type: 'PassStateExited', timestamp: new Date(), stateExitedEventDetails: { name, output: JSON.stringify(output) } }) as HistoryEvent;

describe('re-running a failed execution', () => {
  it('takes the re-run input the failure state recorded for the alert', () => {
    const history = [
      entered(5, 'Extract', {}),
      entered(9, 'Transform', { extract: { upToBatchId: '0000000007' } }),
      entered(12, 'Load', { transform: { upToBatchId: '0000000007' } }),
      exited(15, 'LoadFailed', { alert: { step: 'Load', rerunInput: { resumeFrom: 'load', upToBatchId: '0000000007' } } }),
    ];
    expect(rerunInputFromHistory(history)).toEqual({ resumeFrom: 'load', upToBatchId: '0000000007' });
  });

  it('resumes a timed-out or aborted execution at the last step it entered, with that step’s batch', () => {
    expect(rerunInputFromHistory([entered(5, 'Extract', {}), entered(9, 'Transform', { extract: { upToBatchId: '0000000003' } })])).toEqual({
      resumeFrom: 'transform',
      upToBatchId: '0000000003',
    });
    expect(rerunInputFromHistory([entered(5, 'Extract', {})])).toEqual({ resumeFrom: 'extract' });
    expect(rerunInputFromHistory([])).toEqual({});
  });

  it('re-runs a verification as a verification, whether it failed, stopped mid-way or found differences', () => {
    const verifying = entered(3, 'Verify', { verify: true });
    expect(rerunInputFromHistory([verifying, exited(6, 'VerifyFailed', { verify: true, alert: { step: 'Verify', rerunInput: { verify: true } } })])).toEqual({ verify: true });
    expect(rerunInputFromHistory([verifying])).toEqual({ verify: true });
    expect(rerunInputFromHistory([verifying, exited(5, 'DescribeMismatch', { verify: true, verification: { mismatchedRows: 2 } })])).toEqual({ verify: true });
  });

  /**
   * A stand-in for the Step Functions control plane, which cannot run here: the SDK client's
   * requests are answered in its middleware, so the real command objects are built and checked.
   */
  function stubbedSfn(status: string, history: HistoryEvent[], started: unknown[]): SFNClient {
    const client = new SFNClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    client.middlewareStack.add(
      () => async (args) => {
        const input = args.input as Record<string, unknown>;
        const output = (() => {
          if ('maxResults' in input) return { events: history };
          if ('stateMachineArn' in input) {
            started.push(input);
            return { executionArn: 'arn:aws:states:eu-west-2:1:execution:pipeline:rerun', startDate: new Date() };
          }
          return { status, name: 'scheduled-run', stateMachineArn: 'arn:aws:states:eu-west-2:1:stateMachine:pipeline' };
        })();
        return { output: { ...output, $metadata: {} }, response: {} } as never;
      },
      { step: 'initialize', name: 'controlPlaneStandIn' },
    );
    return client;
  }

  it('starts a new execution of the same state machine with that input', async () => {
    const started: unknown[] = [];
    const sfn = stubbedSfn('FAILED', [exited(3, 'TransformFailed', { alert: { rerunInput: { resumeFrom: 'transform', upToBatchId: '0000000002' } } })], started);
    const result = await rerunExecution(sfn, 'arn:aws:states:eu-west-2:1:execution:pipeline:scheduled-run', new Date('2026-11-27T08:00:00Z'));
    expect(result).toEqual({ input: { resumeFrom: 'transform', upToBatchId: '0000000002' }, executionArn: 'arn:aws:states:eu-west-2:1:execution:pipeline:rerun' });
    expect(started).toEqual([
      {
        stateMachineArn: 'arn:aws:states:eu-west-2:1:stateMachine:pipeline',
        name: 'rerun-20261127080000-scheduled-run',
        input: '{"resumeFrom":"transform","upToBatchId":"0000000002"}',
      },
    ]);
  });

  it('refuses to re-run an execution that did not fail', async () => {
    await expect(rerunExecution(stubbedSfn('SUCCEEDED', [], []), 'arn:aws:states:eu-west-2:1:execution:pipeline:ok')).rejects.toThrow(
      'is SUCCEEDED: only a failed, timed-out or aborted execution is re-run',
    );
  });
});
