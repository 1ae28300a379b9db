import { Testing } from 'cdktf';
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { synthesizePipeline, type SynthesizedPipeline } from './synth';

/**
 * `terraform init` and `terraform validate` on the synthesized stack, against the AWS provider
 * held offline (a filesystem mirror; no registry, no network). Where this machine has no
 * Terraform or no mirror, the test says why and is skipped.
 */
const PROVIDER_MIRROR = '/opt/tf-plugins';
const PROVIDER = 'registry.terraform.io/hashicorp/aws';

function findTerraform(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).concat('/usr/local/bin');
  for (const dir of dirs) {
    const candidate = path.join(dir, 'terraform');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const terraform = findTerraform();
const mirrored = existsSync(path.join(PROVIDER_MIRROR, PROVIDER, '5.100.0'));
const skipReason = !terraform
  ? 'terraform is not on PATH'
  : !mirrored
    ? `the offline AWS provider 5.100.0 is not in ${PROVIDER_MIRROR}/${PROVIDER}`
    : undefined;
if (skipReason) console.warn(`Skipping terraform init/validate of the synthesized stack: ${skipReason}.`);
const itWithTerraform = skipReason ? it.skip : it;

describe('the synthesized Terraform', () => {
  let synth: SynthesizedPipeline | undefined;
  let work: string | undefined;
  afterAll(() => {
    synth?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  itWithTerraform(
    'initializes from the offline provider mirror and validates',
    () => {
      work = mkdtempSync(path.join(tmpdir(), 'totesys-terraform-'));
      const cliConfig = path.join(work, 'terraform.rc');
      writeFileSync(
        cliConfig,
        `provider_installation {\n  filesystem_mirror {\n    path    = "${PROVIDER_MIRROR}"\n    include = ["${PROVIDER}"]\n  }\n  direct {\n    exclude = ["${PROVIDER}"]\n  }\n}\n`,
      );
      const env = {
        ...process.env,
        TF_CLI_CONFIG_FILE: cliConfig,
        TF_DATA_DIR: path.join(work, 'data'),
        TF_PLUGIN_CACHE_DIR: path.join(work, 'plugin-cache'),
        TF_IN_AUTOMATION: '1',
        CHECKPOINT_DISABLE: '1',
      };
      mkdirSync(env.TF_PLUGIN_CACHE_DIR);
      synth = synthesizePipeline();
      const stackDir = path.join(Testing.fullSynth(synth.stack), 'stacks', synth.config.resourcePrefix);
      expect(existsSync(path.join(stackDir, 'cdk.tf.json'))).toBe(true);

      // -backend=false: validation needs no state, and the local state file is the developer's.
      execFileSync(terraform!, ['init', '-backend=false', '-input=false', '-no-color'], { cwd: stackDir, env, stdio: 'pipe' });
      const output = execFileSync(terraform!, ['validate', '-json', '-no-color'], { cwd: stackDir, env, encoding: 'utf-8' });
      const result = JSON.parse(output) as { valid: boolean; error_count: number; warning_count: number; diagnostics: { severity: string; summary: string; detail?: string }[] };
      for (const warning of result.diagnostics.filter((d) => d.severity === 'warning')) {
        console.warn(`terraform validate warning: ${warning.summary} ${warning.detail ?? ''}`);
      }
      expect(result.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(result.valid).toBe(true);
      rmSync(path.dirname(path.dirname(stackDir)), { recursive: true, force: true });
    },
    120_000,
  );
});
