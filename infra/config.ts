import { readRowPolicy, SSL_MODES, type RowPolicy, type SslMode } from '../functions/shared/config';
import { ConfigurationError } from '../functions/shared/errors';
import type { PipelineFunctionName } from '../functions/shared/step-contract';

/**
 * The deployment's settings, read once: each from an environment variable, else from the
 * `context` of cdktf.json, else its default. An error names the variable (and the context key).
 * docs/deploy.md lists them all.
 */
export interface InfraConfig {
  readonly region: string;
  readonly namePrefix: string;
  readonly environment: string;
  /** `<namePrefix>-<environment>`: the start of every resource name, and the stack's name. */
  readonly resourcePrefix: string;
  readonly alertEmail: string;
  /** When pipeline runs (input `{}`) start. */
  readonly schedule: ScheduleSettings;
  /** When verifications (input `{"verify": true}`) start. */
  readonly verifySchedule: ScheduleSettings;
  readonly secrets: { readonly totesys: SecretSource; readonly warehouse: SecretSource };
  readonly vpc?: { readonly subnetIds: readonly string[]; readonly securityGroupIds: readonly string[] };
  readonly functions: Readonly<Record<PipelineFunctionName, FunctionSizing>>;
  /** POWERTOOLS_LOG_LEVEL of the functions. */
  readonly functionLogLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  readonly logRetentionDays: number;
  readonly stateMachineLogLevel: 'ERROR' | 'ALL';
  /** The "no successful execution" alarm fires after this many hours without one. */
  readonly staleAfterHours: number;
  /**
   * The freshness alarm fires when, in a schedule period, the newest change Load brought into the
   * warehouse was older than this many minutes (ChangeLagSeconds, its minimum over the period).
   */
  readonly maxChangeLagMinutes: number;
  /**
   * DATABASE_SSLMODE of the functions that connect to a database (docs/database-tls.md): how a
   * connection whose URL or secret names no sslmode is encrypted. `verify-full` checks the
   * server's certificate against the Amazon RDS bundle and its name against the secret's host.
   */
  readonly databaseSslMode: SslMode;
  /** DATABASE_SSL_ROOT_CERT of those functions: unset is the RDS bundle; `system`, or PEM text, otherwise. */
  readonly databaseSslRootCert?: string;
  /** What Transform does with a bad row (PIPELINE_STRICT_ROWS, PIPELINE_EARLIEST_DATE, PIPELINE_LATEST_DATE of its Lambda). */
  readonly rows: RowPolicy;
  /** Lets `destroy` remove buckets with objects and secrets at once: for non-production only. */
  readonly forceDestroy: boolean;
  readonly backend: LocalStateBackend | S3StateBackend;
}

export interface ScheduleSettings {
  readonly expression: string;
  readonly enabled: boolean;
}

/** A secret this stack creates (empty: the operator sets its value), or an existing one it only reads. */
export type SecretSource = { readonly create: true; readonly name: string } | { readonly create: false; readonly name: string };

export interface FunctionSizing {
  readonly memoryMb: number;
  readonly timeoutSeconds: number;
  readonly ephemeralStorageMb: number;
}

export interface LocalStateBackend {
  readonly type: 'local';
}

export interface S3StateBackend {
  readonly type: 's3';
  readonly bucket: string;
  readonly key: string;
  readonly region: string;
  /** A DynamoDB lock table; without one, Terraform's S3 lock file is used. */
  readonly dynamodbTable?: string;
}

export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';
}

/**
 * Sized for scale 100 (100x real ToteSys): Transform holds a batch in DuckDB and spills to /tmp.
 * Verify runs no DuckDB and writes no files: the smallest /tmp.
 */
export const DEFAULT_FUNCTION_SIZING: Readonly<Record<PipelineFunctionName, FunctionSizing>> = {
  extract: { memoryMb: 1024, timeoutSeconds: 900, ephemeralStorageMb: 1024 },
  transform: { memoryMb: 3008, timeoutSeconds: 900, ephemeralStorageMb: 4096 },
  load: { memoryMb: 2048, timeoutSeconds: 900, ephemeralStorageMb: 2048 },
  verify: { memoryMb: 2048, timeoutSeconds: 900, ephemeralStorageMb: 512 },
};

/**
 * The longest time between two starts of a schedule, in seconds: the period of an alarm on a
 * metric each run publishes once, so that every period holds a run. Exact for `rate(…)` (at most a
 * week, CloudWatch's limit) and for `cron(…)` minute and hour fields of numbers, ranges, lists and
 * steps (taken within a day: days left out by the day fields are not counted); a day otherwise.
 */
export function schedulePeriodSeconds(expression: string): number {
  const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expression);
  if (rate) return Math.min(Number(rate[1]) * { minute: 60, hour: 3600, day: 86_400 }[rate[2] as 'minute' | 'hour' | 'day'], 7 * 86_400);
  const cron = /^cron\((\S+) (\S+) /.exec(expression);
  const minutes = cron && cronField(cron[1]!, 60);
  const hours = cron && cronField(cron[2]!, 24);
  if (!minutes || !hours) return 86_400;
  const starts = hours.flatMap((hour) => minutes.map((minute) => hour * 60 + minute)).sort((a, b) => a - b);
  const gaps = starts.map((start, i) => (i + 1 < starts.length ? starts[i + 1]! : starts[0]! + 1440) - start);
  return Math.max(...gaps) * 60;
}

/** The values (0 … size-1) of a cron minute or hour field; undefined for what it does not read. */
function cronField(field: string, size: number): number[] | undefined {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const match = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!match) return undefined;
    const from = match[2] === undefined ? 0 : Number(match[2]);
    const to = match[3] !== undefined ? Number(match[3]) : match[2] === undefined || match[4] !== undefined ? size - 1 : from;
    const step = match[4] === undefined ? 1 : Number(match[4]);
    if (to >= size || from > to || step === 0) return undefined;
    for (let value = from; value <= to; value += step) values.add(value);
  }
  return [...values];
}

/**
 * At the default schedule a healthy warehouse is at most one interval plus one run behind ToteSys
 * (about 20–30 minutes, docs/deploy.md): two hours is four times that, so one slow or skipped
 * run does not fire the freshness alarm, and a pipeline that keeps falling behind does.
 */
export const DEFAULT_MAX_CHANGE_LAG_MINUTES = 120;

/** Once a day, at 05:07 UTC (between two 15-minute runs). */
export const DEFAULT_VERIFY_SCHEDULE = 'cron(7 5 * * ? *)';

const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

type Env = Readonly<Record<string, string | undefined>>;
/** cdktf.json `context` (the App's `node.tryGetContext`). */
type Context = (key: string) => unknown;

/** One setting: its environment variable and its cdktf.json context key. */
interface Setting {
  readonly env: string;
  readonly context: string;
}

const setting = (env: string, context: string): Setting => ({ env, context });

export const SETTINGS = {
  region: setting('PIPELINE_REGION', 'region'),
  namePrefix: setting('PIPELINE_NAME_PREFIX', 'namePrefix'),
  environment: setting('PIPELINE_ENVIRONMENT', 'environment'),
  alertEmail: setting('PIPELINE_ALERT_EMAIL', 'alertEmail'),
  scheduleExpression: setting('PIPELINE_SCHEDULE_EXPRESSION', 'scheduleExpression'),
  scheduleEnabled: setting('PIPELINE_SCHEDULE_ENABLED', 'scheduleEnabled'),
  verifyScheduleExpression: setting('PIPELINE_VERIFY_SCHEDULE_EXPRESSION', 'verifyScheduleExpression'),
  verifyScheduleEnabled: setting('PIPELINE_VERIFY_SCHEDULE_ENABLED', 'verifyScheduleEnabled'),
  totesysSecretName: setting('PIPELINE_TOTESYS_SECRET_NAME', 'totesysSecretName'),
  warehouseSecretName: setting('PIPELINE_WAREHOUSE_SECRET_NAME', 'warehouseSecretName'),
  subnetIds: setting('PIPELINE_SUBNET_IDS', 'subnetIds'),
  securityGroupIds: setting('PIPELINE_SECURITY_GROUP_IDS', 'securityGroupIds'),
  functionLogLevel: setting('PIPELINE_FUNCTION_LOG_LEVEL', 'functionLogLevel'),
  logRetentionDays: setting('PIPELINE_LOG_RETENTION_DAYS', 'logRetentionDays'),
  stateMachineLogLevel: setting('PIPELINE_STATE_MACHINE_LOG_LEVEL', 'stateMachineLogLevel'),
  staleAfterHours: setting('PIPELINE_STALE_AFTER_HOURS', 'staleAfterHours'),
  maxChangeLagMinutes: setting('PIPELINE_MAX_CHANGE_LAG_MINUTES', 'maxChangeLagMinutes'),
  databaseSslMode: setting('PIPELINE_DATABASE_SSLMODE', 'databaseSslMode'),
  databaseSslRootCert: setting('PIPELINE_DATABASE_SSL_ROOT_CERT', 'databaseSslRootCert'),
  strictRows: setting('PIPELINE_STRICT_ROWS', 'strictRows'),
  earliestDate: setting('PIPELINE_EARLIEST_DATE', 'earliestDate'),
  latestDate: setting('PIPELINE_LATEST_DATE', 'latestDate'),
  forceDestroy: setting('PIPELINE_FORCE_DESTROY', 'forceDestroy'),
  stateBucket: setting('PIPELINE_STATE_BUCKET', 'stateBucket'),
  stateKey: setting('PIPELINE_STATE_KEY', 'stateKey'),
  stateRegion: setting('PIPELINE_STATE_REGION', 'stateRegion'),
  stateLockTable: setting('PIPELINE_STATE_LOCK_TABLE', 'stateLockTable'),
} as const;

/** `PIPELINE_<STEP>_MEMORY_MB` / context `<step>MemoryMb`, and likewise for the timeout and /tmp size. */
export function functionSettings(step: PipelineFunctionName): Record<keyof FunctionSizing, Setting> {
  const upper = step.toUpperCase();
  return {
    memoryMb: setting(`PIPELINE_${upper}_MEMORY_MB`, `${step}MemoryMb`),
    timeoutSeconds: setting(`PIPELINE_${upper}_TIMEOUT_SECONDS`, `${step}TimeoutSeconds`),
    ephemeralStorageMb: setting(`PIPELINE_${upper}_EPHEMERAL_STORAGE_MB`, `${step}EphemeralStorageMb`),
  };
}

export function readInfraConfig(env: Env = process.env, context: Context = () => undefined): InfraConfig {
  const read = new SettingReader(env, context);
  const namePrefix = read.matching(SETTINGS.namePrefix, /^[a-z][a-z0-9-]*[a-z0-9]$/, 'lower-case letters, digits and hyphens', 'totesys-pipeline');
  const environment = read.matching(SETTINGS.environment, /^[a-z][a-z0-9]*$/, 'lower-case letters and digits', 'dev');
  const resourcePrefix = `${namePrefix}-${environment}`;
  if (resourcePrefix.length > 32) {
    throw new InfraConfigError(
      `${describe(SETTINGS.namePrefix)} and ${describe(SETTINGS.environment)} together make "${resourcePrefix}": at most 32 characters, so bucket and role names fit`,
    );
  }
  const region = read.matching(SETTINGS.region, /^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-2', 'eu-west-2');

  const secret = (s: Setting, suffix: string): SecretSource => {
    const name = read.optional(s);
    return name === undefined ? { create: true, name: `${resourcePrefix}/${suffix}` } : { create: false, name };
  };

  const subnetIds = read.list(SETTINGS.subnetIds);
  const securityGroupIds = read.list(SETTINGS.securityGroupIds);
  if ((subnetIds.length === 0) !== (securityGroupIds.length === 0)) {
    throw new InfraConfigError(`${describe(SETTINGS.subnetIds)} and ${describe(SETTINGS.securityGroupIds)} go together: set both (comma-separated ids) or neither`);
  }

  const stateBucket = read.optional(SETTINGS.stateBucket);
  return {
    region,
    namePrefix,
    environment,
    resourcePrefix,
    alertEmail: read.required(
      SETTINGS.alertEmail,
      /^[^@\s]+@[^@\s]+\.[^@\s]+$/,
      'an email address: the address that receives failure alerts',
    ),
    schedule: {
      expression: read.schedule(SETTINGS.scheduleExpression, 'rate(15 minutes)'),
      enabled: read.boolean(SETTINGS.scheduleEnabled, true),
    },
    verifySchedule: {
      expression: read.schedule(SETTINGS.verifyScheduleExpression, DEFAULT_VERIFY_SCHEDULE),
      enabled: read.boolean(SETTINGS.verifyScheduleEnabled, true),
    },
    secrets: { totesys: secret(SETTINGS.totesysSecretName, 'totesys'), warehouse: secret(SETTINGS.warehouseSecretName, 'warehouse') },
    vpc: subnetIds.length > 0 ? { subnetIds, securityGroupIds } : undefined,
    functions: {
      extract: read.sizing('extract'),
      transform: read.sizing('transform'),
      load: read.sizing('load'),
      verify: read.sizing('verify'),
    },
    functionLogLevel: read.oneOf(SETTINGS.functionLogLevel, ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const, 'INFO'),
    logRetentionDays: read.integerIn(SETTINGS.logRetentionDays, LOG_RETENTION_DAYS, 30),
    stateMachineLogLevel: read.oneOf(SETTINGS.stateMachineLogLevel, ['ERROR', 'ALL'] as const, 'ERROR'),
    staleAfterHours: read.integer(SETTINGS.staleAfterHours, 1, 24, 3),
    maxChangeLagMinutes: read.integer(SETTINGS.maxChangeLagMinutes, 15, 1440, DEFAULT_MAX_CHANGE_LAG_MINUTES),
    databaseSslMode: read.oneOf(SETTINGS.databaseSslMode, SSL_MODES, 'verify-full'),
    ...(read.optional(SETTINGS.databaseSslRootCert) === undefined ? {} : { databaseSslRootCert: read.optional(SETTINGS.databaseSslRootCert)! }),
    rows: read.rowPolicy(),
    forceDestroy: read.boolean(SETTINGS.forceDestroy, false),
    backend:
      stateBucket === undefined
        ? { type: 'local' }
        : {
            type: 's3',
            bucket: stateBucket,
            key: read.optional(SETTINGS.stateKey) ?? `${resourcePrefix}/terraform.tfstate`,
            region: read.optional(SETTINGS.stateRegion) ?? region,
            dynamodbTable: read.optional(SETTINGS.stateLockTable),
          },
  };
}

function describe(s: Setting): string {
  return `${s.env} (cdktf.json context "${s.context}")`;
}

class SettingReader {
  constructor(
    private readonly env: Env,
    private readonly context: Context,
  ) {}

  /** The raw value as text, environment first; undefined when unset or blank. */
  optional(s: Setting): string | undefined {
    const fromEnv = this.env[s.env];
    if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv.trim();
    const fromContext = this.context(s.context);
    if (fromContext === undefined || fromContext === null) return undefined;
    if (Array.isArray(fromContext)) return fromContext.map(String).join(',');
    const text = String(fromContext).trim();
    return text === '' ? undefined : text;
  }

  required(s: Setting, pattern: RegExp, meaning: string): string {
    const value = this.optional(s);
    if (value === undefined) throw new InfraConfigError(`Missing ${describe(s)}: ${meaning}`);
    if (!pattern.test(value)) throw new InfraConfigError(`${describe(s)} must be ${meaning}, not "${value}"`);
    return value;
  }

  matching(s: Setting, pattern: RegExp, meaning: string, fallback: string): string {
    const value = this.optional(s) ?? fallback;
    if (!pattern.test(value)) throw new InfraConfigError(`${describe(s)} must be ${meaning}, not "${value}"`);
    return value;
  }

  schedule(s: Setting, fallback: string): string {
    return this.matching(
      s,
      /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|at\(.+\))$/,
      'an EventBridge Scheduler expression such as rate(15 minutes) or cron(0/15 * * * ? *)',
      fallback,
    );
  }

  oneOf<T extends string>(s: Setting, allowed: readonly T[], fallback: T): T {
    const value = this.optional(s) ?? fallback;
    if (!(allowed as readonly string[]).includes(value)) throw new InfraConfigError(`${describe(s)} must be one of ${allowed.join(', ')}, not "${value}"`);
    return value as T;
  }

  boolean(s: Setting, fallback: boolean): boolean {
    const value = this.optional(s);
    if (value === undefined) return fallback;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw new InfraConfigError(`${describe(s)} must be true or false, not "${value}"`);
  }

  integer(s: Setting, min: number, max: number, fallback: number): number {
    const value = this.optional(s);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InfraConfigError(`${describe(s)} must be a whole number from ${min} to ${max}, not "${value}"`);
    return n;
  }

  integerIn(s: Setting, allowed: readonly number[], fallback: number): number {
    const value = this.optional(s);
    if (value === undefined) return fallback;
    if (!allowed.includes(Number(value)) || !/^\d+$/.test(value)) {
      throw new InfraConfigError(`${describe(s)} must be one of ${allowed.join(', ')}, not "${value}"`);
    }
    return Number(value);
  }

  list(s: Setting): string[] {
    const value = this.optional(s);
    if (value === undefined) return [];
    const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    const bad = items.find((item) => !/^[a-z]+-[0-9a-f]+$/.test(item));
    if (bad !== undefined) throw new InfraConfigError(`${describe(s)} must be comma-separated ids such as subnet-0abc or sg-0abc, not "${bad}"`);
    return items;
  }

  /**
   * Transform's row policy, read by the very reader its Lambda uses (functions/shared/config.ts),
   * so a value the function would refuse fails the synth instead of the first run.
   */
  rowPolicy(): RowPolicy {
    const settings = [SETTINGS.strictRows, SETTINGS.earliestDate, SETTINGS.latestDate];
    try {
      return readRowPolicy(Object.fromEntries(settings.map((s) => [s.env, this.optional(s)])));
    } catch (error) {
      if (!(error instanceof ConfigurationError)) throw error;
      // The function's message names the variable; the synth's names the context key too.
      throw new InfraConfigError(settings.reduce((message, s) => message.replaceAll(s.env, describe(s)), error.message));
    }
  }

  sizing(step: PipelineFunctionName): FunctionSizing {
    const settings = functionSettings(step);
    const defaults = DEFAULT_FUNCTION_SIZING[step];
    return {
      memoryMb: this.integer(settings.memoryMb, 128, 10240, defaults.memoryMb),
      timeoutSeconds: this.integer(settings.timeoutSeconds, 1, 900, defaults.timeoutSeconds),
      ephemeralStorageMb: this.integer(settings.ephemeralStorageMb, 512, 10240, defaults.ephemeralStorageMb),
    };
  }
}
