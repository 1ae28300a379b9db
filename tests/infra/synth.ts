import { Testing } from 'cdktf';
import { rmSync } from 'node:fs';
import { readInfraConfig, type InfraConfig } from '../../infra/config';
import { PipelineStack } from '../../infra/main';

/**
 * Synthesizes the pipeline stack for a test file (once, in beforeAll): the real constructs and
 * the real function packages (built once per version of functions/, cached in node_modules/.cache).
 */
export const TEST_ENV = { PIPELINE_ALERT_EMAIL: 'data-team@example.com' } as const;

export interface TerraformJson {
  readonly terraform: Record<string, unknown> & { backend?: Record<string, Record<string, unknown>>; required_providers: Record<string, unknown> };
  readonly provider: Record<string, unknown[]>;
  readonly resource: Record<string, Record<string, Record<string, unknown>>>;
  readonly data: Record<string, Record<string, Record<string, unknown>>>;
  readonly output: Record<string, { value: unknown }>;
}

export interface SynthesizedPipeline {
  readonly config: InfraConfig;
  readonly stack: PipelineStack;
  /** What `Testing.synth` returns: the stack's Terraform JSON, as text. */
  readonly json: string;
  readonly tf: TerraformJson;
  /** Removes the test app's output folder. */
  readonly cleanup: () => void;
}

export function synthesizePipeline(env: Record<string, string> = {}): SynthesizedPipeline {
  const config = readInfraConfig({ ...TEST_ENV, ...env });
  const app = Testing.app();
  const stack = new PipelineStack(app, config.resourcePrefix, { config });
  const json = Testing.synth(stack, true);
  return { config, stack, json, tf: JSON.parse(json) as TerraformJson, cleanup: () => rmSync(app.outdir, { recursive: true, force: true }) };
}

/** A resource's arguments, and its Terraform address (`type.logicalId`) under a key no resource has. */
export type Resource = Record<string, unknown> & { readonly '@address': string };

/** Every resource of a type. */
export function resourcesOf(tf: TerraformJson, type: string): Resource[] {
  return Object.entries(tf.resource[type] ?? {}).map(([logicalId, body]) => ({ ...body, '@address': `${type}.${logicalId}` }));
}

/** The one resource of `type` whose `key` is `value`. */
export function resourceWhere(tf: TerraformJson, type: string, key: string, value: unknown): Resource {
  const found = resourcesOf(tf, type).filter((r) => r[key] === value);
  if (found.length !== 1) throw new Error(`Expected one ${type} with ${key} = ${JSON.stringify(value)}, found ${found.length}`);
  return found[0]!;
}

/** A Terraform reference as it appears in the synthesized JSON: `${aws_s3_bucket.x.arn}`. */
export function ref(resource: Resource, attribute: string): string {
  return `\${${resource['@address']}.${attribute}}`;
}

export interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: unknown;
  readonly Action: string | string[];
  readonly Resource: string | string[];
  readonly Condition?: Record<string, Record<string, string | string[]>>;
}

export function statementsOf(policy: unknown): Statement[] {
  const document = JSON.parse(policy as string) as { Statement: Statement[] };
  return document.Statement;
}

export const asList = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);
