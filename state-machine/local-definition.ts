import { buildPipelineDefinition, type PipelineDefinitionParameters, type StateMachineDefinition } from './definition';

/** Placeholder ARNs for the definition that runs locally (and is drawn in the README). */
export const LOCAL_ARNS = {
  stateMachine: 'arn:aws:states:eu-west-2:000000000000:stateMachine:totesys-pipeline-local',
  execution: (name: string) => `arn:aws:states:eu-west-2:000000000000:execution:totesys-pipeline-local:${name}`,
  extract: 'arn:aws:lambda:eu-west-2:000000000000:function:totesys-extract-local',
  transform: 'arn:aws:lambda:eu-west-2:000000000000:function:totesys-transform-local',
  load: 'arn:aws:lambda:eu-west-2:000000000000:function:totesys-load-local',
  verify: 'arn:aws:lambda:eu-west-2:000000000000:function:totesys-verify-local',
  alerts: 'arn:aws:sns:eu-west-2:000000000000:totesys-alerts-local',
} as const;

/** The definition with the local placeholder ARNs; `overrides` set other parameters (tests shorten the overlap wait). */
export function localDefinition(overrides: Partial<Pick<PipelineDefinitionParameters, 'overlap' | 'retry'>> = {}): StateMachineDefinition {
  return buildPipelineDefinition({
    ...overrides,
    extractFunctionArn: LOCAL_ARNS.extract,
    transformFunctionArn: LOCAL_ARNS.transform,
    loadFunctionArn: LOCAL_ARNS.load,
    verifyFunctionArn: LOCAL_ARNS.verify,
    alertTopicArn: LOCAL_ARNS.alerts,
  });
}
