import { buildPipelineDefinition, type PipelineDefinitionParameters, type StateMachineDefinition } from '../../state-machine/definition';
import { localDefinition } from '../../state-machine/local-definition';

/**
 * The state machine's definition as built for deployment: valid Amazon States Language, and the
 * failure handling every step relies on (retry only transient errors, with capped, jittered
 * exponential backoff; anything else is caught, reported once and fails the run).
 */

interface AslValidationResult {
  isValid: boolean;
  errors: unknown[];
  errorsText: (separator?: string) => string;
}
// asl-validator ships no type declarations; its main export is the validator function itself.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (definition: unknown, options?: { checkPaths?: boolean; checkArn?: boolean }) => AslValidationResult;

/** The validator writes defaults into the definition it is given: it gets a copy. */
const validate = (definition: StateMachineDefinition): AslValidationResult => aslValidator(structuredClone(definition), { checkPaths: true, checkArn: true });

const PARAMETERS: PipelineDefinitionParameters = {
  extractFunctionArn: 'arn:aws:lambda:eu-west-2:123456789012:function:totesys-extract',
  transformFunctionArn: 'arn:aws:lambda:eu-west-2:123456789012:function:totesys-transform',
  loadFunctionArn: 'arn:aws:lambda:eu-west-2:123456789012:function:totesys-load',
  verifyFunctionArn: 'arn:aws:lambda:eu-west-2:123456789012:function:totesys-verify',
  alertTopicArn: 'arn:aws:sns:eu-west-2:123456789012:totesys-alerts',
};

const TASKS = [
  ['Extract', PARAMETERS.extractFunctionArn],
  ['Transform', PARAMETERS.transformFunctionArn],
  ['Load', PARAMETERS.loadFunctionArn],
  ['Verify', PARAMETERS.verifyFunctionArn],
] as const;

const RETRIED = [
  // AWS's best-practice list for Lambda tasks.
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'DatabaseUnavailableError',
  'BatchConflictError',
];
/** Errors no retrier of a step may match: a permanent error, and the wildcards that would match it too. */
const NEVER_RETRIED = ['BadInputError', 'SchemaDriftError', 'PipelineStateError', 'ConfigurationError', 'States.ALL', 'States.TaskFailed'];

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}
interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}
type State = Record<string, unknown> & { Type?: string; Next?: string; Retry?: Retrier[]; Catch?: Catcher[] };

describe('the pipeline state machine definition', () => {
  const definition = buildPipelineDefinition(PARAMETERS);
  const state = (name: string): State => {
    const found = definition.States[name];
    if (!found) throw new Error(`no state ${name}`);
    return found as State;
  };

  it('is valid Amazon States Language (asl-validator, paths and ARNs checked)', () => {
    const result = validate(definition);
    expect(result.errorsText()).toBe('');
    expect(result.errors).toEqual([]);
    expect(result.isValid).toBe(true);
  });

  it('is still valid with its retry policy and timeouts overridden, and as run locally', () => {
    const custom = buildPipelineDefinition({
      ...PARAMETERS,
      retry: { maxAttempts: 5, intervalSeconds: 1, backoffRate: 3, maxDelaySeconds: 30 },
      timeoutSeconds: { transform: 600, verify: 300 },
    });
    expect(validate(custom).isValid).toBe(true);
    expect((custom.States.Verify as State).TimeoutSeconds).toBe(300);
    expect(validate(localDefinition()).errorsText()).toBe('');
  });

  it('the validator does reject a broken definition (so the check above means something)', () => {
    const broken = structuredClone(definition) as { States: Record<string, State> };
    broken.States.Transform!.Next = 'NoSuchState';
    const result = validate(broken as unknown as StateMachineDefinition);
    expect(result.isValid).toBe(false);
    expect(result.errorsText()).toContain('NoSuchState');
  });

  it('has exactly four Task states that invoke Lambdas: Extract, Transform, Load and Verify', () => {
    const lambdaTasks = Object.entries(definition.States)
      .filter(([, s]) => s.Type === 'Task' && s.Resource === 'arn:aws:states:::lambda:invoke')
      .map(([name]) => name)
      .sort();
    expect(lambdaTasks).toEqual(['Extract', 'Load', 'Transform', 'Verify']);
  });

  describe('the verification', () => {
    it('is chosen first, by {"verify": true} only, before the overlap guard; anything else goes to the guard', () => {
      expect(definition.StartAt).toBe('RouteByVerify');
      expect(state('RouteByVerify')).toMatchObject({
        Type: 'Choice',
        Choices: [{ And: [{ Variable: '$.verify', IsPresent: true }, { Variable: '$.verify', BooleanEquals: true }], Next: 'Verify' }],
        Default: 'RouteBySchedule',
      });
    });

    it('hands Verify the execution id and keeps its batch, count and tables under $.verification', () => {
      expect(state('Verify').Parameters).toEqual({ FunctionName: PARAMETERS.verifyFunctionArn, Payload: { 'executionId.$': '$$.Execution.Id' } });
      expect(state('Verify').ResultSelector).toEqual({ 'batchId.$': '$.Payload.batchId', 'mismatchedRows.$': '$.Payload.mismatchedRows', 'tables.$': '$.Payload.tables' });
      expect(state('Verify').ResultPath).toBe('$.verification');
      expect(state('Verify').Next).toBe('CheckVerification');
    });

    it('has the same retrier as the steps', () => {
      expect(state('Verify').Retry).toEqual(state('Extract').Retry);
    });

    it('succeeds when no row differs, and fails with WarehouseMismatch, stating the count, when any does', () => {
      expect(state('CheckVerification')).toMatchObject({
        Type: 'Choice',
        Choices: [{ Variable: '$.verification.mismatchedRows', NumericGreaterThan: 0, Next: 'DescribeMismatch' }],
        Default: 'WarehouseMatches',
      });
      expect(state('WarehouseMatches').Type).toBe('Succeed');
      expect(state('DescribeMismatch').Next).toBe('WarehouseDiffers');
      const cause = (state('DescribeMismatch').Parameters as Record<string, string>)['cause.$']!;
      expect(cause).toMatch(/^States\.Format\('The warehouse differs from ToteSys in \{\} row\(s\).*npm run verify.*', \$\.verification\.mismatchedRows, \$\.verification\.batchId\)$/);
      expect(state('WarehouseDiffers')).toMatchObject({ Type: 'Fail', Error: 'WarehouseMismatch', CausePath: '$.mismatch.cause' });
    });

    it('publishes no SNS alert for a mismatch (the MismatchedRows alarm emails): no path from Verify’s success reaches NotifyFailure', () => {
      const reachable = new Set<string>();
      const visit = (name: string) => {
        if (reachable.has(name)) return;
        reachable.add(name);
        const s = state(name) as State & { Default?: string; Choices?: { Next: string }[] };
        for (const next of [s.Next, s.Default, ...(s.Choices ?? []).map((c) => c.Next)]) if (next) visit(next);
      };
      visit('CheckVerification');
      expect([...reachable].sort()).toEqual(['CheckVerification', 'DescribeMismatch', 'WarehouseDiffers', 'WarehouseMatches']);
    });

    it('reports a failed verification like a failed step, with {"verify": true} as the input that re-runs it', () => {
      expect(state('VerifyFailed')).toMatchObject({
        Type: 'Pass',
        Parameters: { step: 'Verify', 'error.$': '$.failure.Error', 'cause.$': '$.failure.Cause', rerunInput: { verify: true } },
        Next: 'NotifyFailure',
      });
    });
  });

  describe.each(TASKS)('the %s task', (name, functionArn) => {
    it('invokes the function whose ARN it was given', () => {
      expect(state(name).Resource).toBe('arn:aws:states:::lambda:invoke');
      expect((state(name).Parameters as { FunctionName?: string }).FunctionName).toBe(functionArn);
    });

    it('retries the Lambda service errors and our transient errors, with capped, fully jittered exponential backoff', () => {
      const retry = state(name).Retry ?? [];
      expect(retry.length).toBeGreaterThan(0);
      const retried = retry.flatMap((retrier) => retrier.ErrorEquals);
      for (const error of RETRIED) expect(retried).toContain(error);
      for (const retrier of retry) {
        expect(retrier.BackoffRate).toBeGreaterThan(1);
        // The default policy's cap (definition.ts DEFAULT_RETRY): above its third wait of up to 20 s.
        expect(retrier.MaxDelaySeconds).toBe(60);
        expect(retrier.MaxDelaySeconds).toBeGreaterThan(0);
        expect(retrier.JitterStrategy).toBe('FULL');
        expect(retrier.IntervalSeconds).toBeGreaterThanOrEqual(1);
        expect(retrier.MaxAttempts).toBeGreaterThanOrEqual(1);
      }
    });

    it('never retries a permanent error, by name or by a wildcard', () => {
      const retried = (state(name).Retry ?? []).flatMap((retrier) => retrier.ErrorEquals);
      for (const error of NEVER_RETRIED) expect(retried).not.toContain(error);
    });

    it(`catches everything into ${name}Failed -> NotifyFailure -> PipelineFailed (a Fail state)`, () => {
      expect(state(name).Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: `${name}Failed` })]);
      expect(state(`${name}Failed`).Next).toBe('NotifyFailure');
      expect(state('NotifyFailure').Next).toBe('PipelineFailed');
      expect(state('PipelineFailed').Type).toBe('Fail');
    });
  });

  it('uses the default retry policy of 3 attempts, and the given one when overridden', () => {
    for (const [name] of TASKS) expect(state(name).Retry!.map((retrier) => retrier.MaxAttempts)).toEqual([3]);
    const custom = buildPipelineDefinition({ ...PARAMETERS, retry: { maxAttempts: 5, backoffRate: 3, maxDelaySeconds: 30 } });
    for (const [name] of TASKS) {
      expect((custom.States[name] as State).Retry).toEqual([
        expect.objectContaining({ MaxAttempts: 5, BackoffRate: 3, MaxDelaySeconds: 30, JitterStrategy: 'FULL' }),
      ]);
    }
  });

  it('publishes the alert to the topic it was given, and fails the run even when the alert cannot be sent', () => {
    const notify = state('NotifyFailure');
    expect(notify.Resource).toBe('arn:aws:states:::sns:publish');
    expect((notify.Parameters as { TopicArn?: string }).TopicArn).toBe(PARAMETERS.alertTopicArn);
    expect(notify.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'PipelineFailed' })]);
  });
});
