import { Testing } from 'cdktf';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readInfraConfig, type InfraConfig } from '../../infra/config';
import { PIPELINE_FUNCTION_BUNDLES } from '../../infra/function-bundles';
import { PipelineStack } from '../../infra/main';
import { buildFunctionPackage, PROJECT_ROOT, type FunctionPackage } from '../../infra/nodejs-function';

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

/** Whether functions/verify/handler.ts exists yet: until it does, a stand-in is packaged in its place. */
export const VERIFY_HANDLER_EXISTS = existsSync(path.join(PROJECT_ROOT, PIPELINE_FUNCTION_BUNDLES.verify.entry));

let standIn: FunctionPackage | undefined;
/** The stand-in verify package (tests/infra/verify-stand-in.ts), built once per test file. */
function verifyStandIn(): FunctionPackage {
  if (!standIn) {
    console.warn(
      `${PIPELINE_FUNCTION_BUNDLES.verify.entry} does not exist yet: the infrastructure tests package tests/infra/verify-stand-in.ts as the verify function. ` +
        'Its role, settings, alarms and schedule are tested all the same; its package is not.',
    );
    const dir = mkdtempSync(path.join(tmpdir(), 'totesys-verify-stand-in-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    standIn = buildFunctionPackage('verify', { entry: 'tests/infra/verify-stand-in.ts' }, dir);
  }
  return standIn;
}

export function synthesizePipeline(env: Record<string, string> = {}): SynthesizedPipeline {
  const config = readInfraConfig({ ...TEST_ENV, ...env });
  const app = Testing.app();
  const stack = new PipelineStack(app, config.resourcePrefix, { config, packages: VERIFY_HANDLER_EXISTS ? undefined : { verify: verifyStandIn() } });
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
