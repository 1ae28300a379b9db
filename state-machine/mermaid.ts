import type { StateMachineDefinition } from './definition';

/**
 * A Mermaid state diagram of the definition, for the README (kept true by a test): every
 * transition, with Choice conditions, error catches and ends.
 */
export function toMermaid(definition: StateMachineDefinition): string {
  const lines = ['stateDiagram-v2', `  [*] --> ${definition.StartAt}`];
  for (const [name, state] of Object.entries(definition.States)) {
    const s = state as {
      Type: string;
      Next?: string;
      End?: boolean;
      Default?: string;
      Choices?: ({ Next: string } & Record<string, unknown>)[];
      Catch?: { Next: string }[];
    };
    for (const choice of s.Choices ?? []) lines.push(`  ${name} --> ${choice.Next}: ${describeRule(choice)}`);
    if (s.Default) lines.push(`  ${name} --> ${s.Default}: otherwise`);
    if (s.Next) lines.push(`  ${name} --> ${s.Next}`);
    for (const catcher of s.Catch ?? []) lines.push(`  ${name} --> ${catcher.Next}: error`);
    if (s.End || s.Type === 'Succeed' || s.Type === 'Fail') lines.push(`  ${name} --> [*]`);
  }
  return lines.join('\n');
}

function describeRule(rule: Record<string, unknown>): string {
  if (Array.isArray(rule.And)) {
    const rules = rule.And as Record<string, unknown>[];
    // "x given and x = v" reads as "x = v": the presence test only guards the comparison.
    const compared = new Set(rules.filter((r) => r.IsPresent === undefined).map((r) => r.Variable));
    return rules
      .filter((r) => !(r.IsPresent === true && compared.has(r.Variable)))
      .map(describeRule)
      .join(' and ');
  }
  if (rule.Not) return `not ${describeRule(rule.Not as Record<string, unknown>)}`;
  const variable = String(rule.Variable ?? '').replace(/^\$\./, '');
  const path = (value: unknown) => String(value).replace(/^\$\./, '');
  if (rule.IsPresent === true) return `${variable} given`;
  if (rule.StringEquals !== undefined) return `${variable} = ${String(rule.StringEquals)}`;
  if (rule.BooleanEquals !== undefined) return `${variable} = ${String(rule.BooleanEquals)}`;
  if (rule.NumericGreaterThan !== undefined) return `${variable} > ${String(rule.NumericGreaterThan)}`;
  if (rule.NumericEquals !== undefined) return `${variable} = ${String(rule.NumericEquals)}`;
  if (rule.NumericLessThanPath !== undefined) return `${variable} < ${path(rule.NumericLessThanPath)}`;
  throw new Error(`No description for Choice rule ${JSON.stringify(rule)}`);
}
