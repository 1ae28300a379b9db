import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * Each measured step runs in a process of its own, so that its peak memory is its own (not the
 * orchestrator's, nor the local S3 server's) and no step warms a JIT or a pool for the next.
 * The protocol: input as JSON in an environment variable (URLs may hold passwords, which argv
 * would show to every `ps`), progress as lines on stderr, the result as one JSON line on stdout.
 */

/** What every step process reports besides its own result. */
export interface StepMeasurement {
  /** Wall time of the step's work, measured inside the process: starting Node and loading modules are not the step's cost. */
  readonly seconds: number;
  /** CPU time (user and system) of this process over the same span: with `seconds`, whether the process or something else was the bottleneck. */
  readonly cpuSeconds: number;
  /** The process's peak resident set size in MB. */
  readonly peakRssMb: number;
}

/** Rows, bytes and time per table, as the extract and its baseline both report them. */
export type TableVolumes = Record<string, { rows: number; bytes: number; seconds: number }>;

const INPUT_VARIABLE = 'BENCH_STEP_INPUT';
const PROJECT_ROOT = path.join(__dirname, '..', '..');

/** Runs scripts/bench/<script>.ts in a child process and returns what it reported. */
export async function runStepProcess<Output>(
  script: string,
  input: unknown,
  options: { env?: Record<string, string>; onProgress: (line: string) => void },
): Promise<Output & StepMeasurement> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, `${script}.ts`)], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...options.env, [INPUT_VARIABLE]: JSON.stringify(input) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const lastErrors: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    lastErrors.push(line);
    if (lastErrors.length > 20) lastErrors.shift();
    options.onProgress(line);
  });
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  const result = stdout.trim().split('\n').at(-1);
  if (exitCode !== 0 || !result) {
    throw new Error(`bench step ${script} failed (exit code ${exitCode})${lastErrors.length ? `:\n${lastErrors.join('\n')}` : ''}`);
  }
  return JSON.parse(result) as Output & StepMeasurement;
}

/** The body of a step process: reads its input, does the work, prints the result with its measurements. */
export function stepMain<Input, Output extends object>(work: (input: Input, progress: (line: string) => void) => Promise<Output>): void {
  const input = JSON.parse(process.env[INPUT_VARIABLE] ?? 'null') as Input;
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  work(input, (line) => process.stderr.write(`${line}\n`)).then(
    (output) => {
      const cpu = process.cpuUsage(cpuAtStart);
      const measurement: StepMeasurement = {
        seconds: (performance.now() - started) / 1000,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        // maxRSS is in KiB.
        peakRssMb: process.resourceUsage().maxRSS / 1024,
      };
      process.stdout.write(`${JSON.stringify({ ...output, ...measurement })}\n`);
      // The result is out: a socket some library keeps open must not hold the whole benchmark up.
      setTimeout(() => process.exit(), 2_000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
