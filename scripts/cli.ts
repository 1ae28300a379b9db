import { parseArgs } from 'node:util';

/**
 * The command line of the npm scripts: options, `--help`, and the usage printed on a mistake.
 * Every command gets the same behaviour: `--help` (or `-h`) prints its usage and exits 0; an
 * unknown option, an option missing its value, or an argument the command does not take names
 * what is wrong, prints the usage, and exits 2.
 */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

export type OptionValues<O extends OptionSpecs> = { -readonly [K in keyof O]?: O[K]['type'] extends 'string' ? string : boolean };

export interface CommandSpec<O extends OptionSpecs> {
  /** Printed for --help and after a mistake. */
  readonly usage: string;
  readonly options: O;
  /** How many arguments that are not options the command takes (default none). */
  readonly positionals?: number;
}

export type CommandLine<O extends OptionSpecs> =
  | { readonly kind: 'run'; readonly values: OptionValues<O>; readonly positionals: string[] }
  | { readonly kind: 'help' }
  | { readonly kind: 'usage-error'; readonly message: string };

/** Reads `argv` (the arguments after the script) against `spec`; prints nothing. */
export function parseCommandLine<O extends OptionSpecs>(argv: readonly string[], spec: CommandSpec<O>): CommandLine<O> {
  const options = { ...spec.options, help: { type: 'boolean', short: 'h' } } as Record<string, OptionSpec>;
  const { tokens, values, positionals } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  if (values.help === true) return { kind: 'help' };
  for (const token of tokens) {
    if (token.kind === 'option') {
      const option = options[token.name];
      if (!option) return { kind: 'usage-error', message: unknownOption(token.rawName, Object.keys(spec.options)) };
      if (option.type === 'boolean' && token.value !== undefined) return { kind: 'usage-error', message: `Option ${token.rawName} takes no value (got "${token.value}")` };
      if (option.type === 'string' && token.value === undefined) return { kind: 'usage-error', message: `Option ${token.rawName} needs a value` };
      // `--from --verify`: the value taken is the next option, which is never what was meant.
      if (option.type === 'string' && !token.inlineValue && token.value?.startsWith('-')) {
        return { kind: 'usage-error', message: `Option ${token.rawName} needs a value (got the option ${token.value}; write ${token.rawName}=${token.value} if that is the value)` };
      }
    }
  }
  if (positionals.length > (spec.positionals ?? 0)) {
    const extra = positionals[spec.positionals ?? 0]!;
    return { kind: 'usage-error', message: `Unexpected argument "${extra}"` };
  }
  delete values.help;
  return { kind: 'run', values: values as OptionValues<O>, positionals };
}

/**
 * Reads the command line, printing the usage when the command should not run: for --help (on
 * stdout; the exit code is 0) or after a mistake (on stderr, after what is wrong; exit code 2).
 * Returns the options to run with, or the exit code.
 */
export function readCommandLine<O extends OptionSpecs>(
  argv: readonly string[],
  spec: CommandSpec<O>,
  print: { out: (text: string) => void; err: (text: string) => void } = { out: console.log, err: console.error },
): { values: OptionValues<O>; positionals: string[] } | number {
  const line = parseCommandLine(argv, spec);
  if (line.kind === 'help') {
    print.out(spec.usage);
    return 0;
  }
  if (line.kind === 'usage-error') {
    print.err(`${line.message}\n\n${spec.usage}`);
    return 2;
  }
  return line;
}

function unknownOption(rawName: string, known: readonly string[]): string {
  const name = rawName.replace(/^-+/, '');
  const closest = known
    .map((candidate) => ({ candidate, distance: editDistance(name, candidate) }))
    .filter(({ distance }) => distance <= Math.max(1, Math.floor(name.length / 3)))
    .sort((a, b) => a.distance - b.distance)[0];
  return `Unknown option '${rawName}'${closest ? ` (did you mean --${closest.candidate}?)` : ''}`;
}

/**
 * How many letters to insert, delete, change or swap with the next to turn `a` into `b` (optimal
 * string alignment): `--form` is one swap from `--from`.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const change = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + change);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}
