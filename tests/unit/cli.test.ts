import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { readDatabaseCredentials, readLoadConfig, readS3Settings } from '../../functions/shared/config';
import { ConfigurationError } from '../../functions/shared/errors';
import { parseCommandLine } from '../../scripts/cli';
import { localAdvice, localAlertMessage } from '../../scripts/local/advice';
import { readSeedScale } from '../../scripts/local/environment';

const ROOT = path.join(__dirname, '..', '..');

describe('reading a command line (scripts/cli.ts)', () => {
  const spec = { usage: 'usage', options: { from: { type: 'string' }, verify: { type: 'boolean' } } } as const;

  it('reads options and their values', () => {
    expect(parseCommandLine(['--from', 'load'], spec)).toEqual({ kind: 'run', values: { from: 'load' }, positionals: [] });
    expect(parseCommandLine(['--verify', '--from=load'], spec)).toEqual({ kind: 'run', values: { verify: true, from: 'load' }, positionals: [] });
    expect(parseCommandLine([], spec)).toEqual({ kind: 'run', values: {}, positionals: [] });
  });

  it('asks for the usage on --help or -h, whatever else is given', () => {
    expect(parseCommandLine(['--help'], spec)).toEqual({ kind: 'help' });
    expect(parseCommandLine(['--form', 'load', '-h'], spec)).toEqual({ kind: 'help' });
  });

  it('names the flag that is wrong, and the one probably meant', () => {
    expect(parseCommandLine(['--form', 'load'], spec)).toEqual({ kind: 'usage-error', message: "Unknown option '--form' (did you mean --from?)" });
    expect(parseCommandLine(['--bogus'], spec)).toEqual({ kind: 'usage-error', message: "Unknown option '--bogus'" });
    expect(parseCommandLine(['-x'], spec)).toEqual({ kind: 'usage-error', message: "Unknown option '-x'" });
    expect(parseCommandLine(['--from'], spec)).toEqual({ kind: 'usage-error', message: 'Option --from needs a value' });
    expect(parseCommandLine(['--from', '--verify'], spec)).toMatchObject({ kind: 'usage-error', message: expect.stringContaining('Option --from needs a value (got the option --verify') });
    expect(parseCommandLine(['--verify=yes'], spec)).toEqual({ kind: 'usage-error', message: 'Option --verify takes no value (got "yes")' });
    expect(parseCommandLine(['load'], spec)).toEqual({ kind: 'usage-error', message: 'Unexpected argument "load"' });
  });

  it('takes as many other arguments as the command does', () => {
    expect(parseCommandLine(['arn:x'], { ...spec, positionals: 1 })).toEqual({ kind: 'run', values: {}, positionals: ['arn:x'] });
    expect(parseCommandLine(['arn:x', 'arn:y'], { ...spec, positionals: 1 })).toEqual({ kind: 'usage-error', message: 'Unexpected argument "arn:y"' });
  });
});

/** `npm run <script> -- <args>`, as npm runs it (tsx), with no configuration that could make it do anything. */
async function runScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PIPELINE_HOME: path.join(ROOT, '.no-such-pipeline-home') };
  for (const name of ['TOTESYS_DATABASE_URL', 'WAREHOUSE_DATABASE_URL', 'INGESTION_BUCKET', 'PROCESSED_BUCKET']) delete env[name];
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', script), ...args], { cwd: ROOT, env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('every command prints its usage on --help (exit 0) and on a wrong flag, naming it (exit 2)', () => {
  const commands: [string, string, string][] = [
    ['npm start', 'run-local.ts', 'npm start [-- options]'],
    ['npm run seed', 'seed.ts', 'npm run seed -- [--scale N | --sample]'],
    ['npm run verify', 'verify.ts', 'npm run verify [-- --json]'],
    ['npm run quarantine', 'quarantine.ts', 'npm run quarantine [-- --json]'],
    ['npm run warehouse', 'warehouse.ts', 'npm run warehouse [-- --psql]'],
    ['npm run rebuild-warehouse', 'rebuild-warehouse.ts', 'npm run rebuild-warehouse -- --yes'],
    ['npm run rerun', 'rerun.ts', 'npm run rerun -- <execution ARN>'],
    ['npm run bench', 'bench.ts', 'npm run bench -- --scale N'],
  ];

  it.each(commands)('%s', async (_name, script, usage) => {
    const [help, wrong] = await Promise.all([runScript(script, ['--help']), runScript(script, ['--bogus-flag'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(usage);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/Unknown option '?--bogus-flag/);
    expect(wrong.stderr).toContain(usage);
  }, 60_000);

  it('npm start -- --form load: suggests --from', async () => {
    const result = await runScript('run-local.ts', ['--form', 'load']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("Unknown option '--form' (did you mean --from?)");
    expect(result.stderr).toContain('--from <extract|transform|load>');
  }, 60_000);

  it('npm run rerun of a local execution says to use npm start -- --from instead (no AWS credentials needed)', async () => {
    const result = await runScript('rerun.ts', ['arn:aws:states:eu-west-2:000000000000:execution:totesys-pipeline-local:run-1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('is a local execution (npm start): re-run it with npm start -- --from');
  }, 60_000);
});

describe('configuration errors name the variable', () => {
  it.each([
    ['TOTESYS_DATABASE_URL', 'postgres://etl:hun#ter2@db:5432/totesys'],
    ['TOTESYS_DATABASE_URL', 'postgres://etl:hunter2@db:99999/totesys'],
    ['WAREHOUSE_DATABASE_URL', 'postgresql://etl:hunter2@[db/warehouse'],
  ])('%s malformed (%s): a ConfigurationError naming it, without the URL', (name, url) => {
    const prefix = name.startsWith('TOTESYS') ? 'TOTESYS' : 'WAREHOUSE';
    const read = () => readDatabaseCredentials({ [name]: url }, prefix);
    expect(read).toThrow(ConfigurationError);
    expect(read).toThrow(`${name} is not a valid URL`);
    try {
      read();
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });

  it('a malformed S3 endpoint names the variable it came from', () => {
    expect(() => readS3Settings({ AWS_ENDPOINT_URL_S3: 'http://[::1' })).toThrow('AWS_ENDPOINT_URL_S3 is not a valid URL');
    expect(() => readS3Settings({ AWS_ENDPOINT_URL: 'localhost:9000' })).toThrow('AWS_ENDPOINT_URL must be an http(s) URL');
    expect(() => readLoadConfig({ WAREHOUSE_DATABASE_URL: 'postgres://a@b/c', PROCESSED_BUCKET: 'p', AWS_ENDPOINT_URL_S3: 'http://bad host' })).toThrow(ConfigurationError);
  });

  it('LOCAL_SEED_SCALE', () => {
    expect(readSeedScale({})).toBe(1);
    expect(readSeedScale({ LOCAL_SEED_SCALE: '0.5' })).toBe(0.5);
    expect(() => readSeedScale({ LOCAL_SEED_SCALE: 'abc' })).toThrow(ConfigurationError);
    expect(() => readSeedScale({ LOCAL_SEED_SCALE: 'abc' })).toThrow('LOCAL_SEED_SCALE must be a positive number');
    expect(() => readSeedScale({ LOCAL_SEED_SCALE: '-1' })).toThrow('LOCAL_SEED_SCALE');
  });
});

describe('advice after a local failure', () => {
  const awsAlert = (error: string) =>
    `The ToteSys pipeline execution arn:aws:states:eu-west-2:000000000000:execution:totesys-pipeline-local:run-1 failed at step Transform. Error: ${error}. Cause: it broke. ` +
    'To re-run the pipeline from this step, start a new execution of the state machine with this input: {"resumeFrom":"transform","batchId":"0000000001"} (or run: npm run rerun -- arn:aws:states:eu-west-2:000000000000:execution:totesys-pipeline-local:run-1)';

  it('says to re-run locally, with npm start -- --from, never npm run rerun on the placeholder ARN', () => {
    const message = localAlertMessage(awsAlert('BadInputError'), 'transform');
    expect(message).not.toContain('npm run rerun');
    expect(message).toContain('with this input: {"resumeFrom":"transform","batchId":"0000000001"} (locally: npm start -- --from transform)');
    expect(localAlertMessage(awsAlert('DatabaseUnavailableError'), 'verify')).toContain('(locally: npm start -- --verify)');
  });

  it.each(['ConfigurationError', 'SchemaDriftError'])('for a %s, says what to fix instead of a command that re-runs', (error) => {
    const message = localAlertMessage(awsAlert(error), 'transform');
    expect(message).not.toMatch(/--from|npm run rerun/);
    expect(message).toContain(`(locally: a re-run cannot fix a ${error}: fix what the error names, then run npm start)`);
    expect(localAdvice(error, 'extract')).not.toContain('--from');
    expect(localAdvice(error, 'extract')).toContain('re-running cannot fix it');
  });
});
