import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dependencyOrder } from '../shared/dependency-order';
import type { DuckDbSession } from '../shared/duckdb-session';
import { MODELS, PROVIDED_RELATIONS, type ContractColumn, type Model } from './models/models';
import { failingRows } from './row-tests';

/** The models' SQL, in functions/transform/models/ (in the Lambda package, `models/` beside the bundle). */
export const MODELS_DIR = path.join(__dirname, 'models');

export function modelSql(file: string): string {
  return readFileSync(path.join(MODELS_DIR, file), 'utf-8');
}

/** The models built in TypeScript, by name: each creates its table in the session. */
export type TypeScriptModels = Readonly<Record<string, (session: DuckDbSession) => Promise<void>>>;

/**
 * The models in an order that runs each after everything it reads: of the models whose inputs
 * are all there, the first declared goes next. Throws on an input that is neither provided nor a
 * model, and on models that read each other in a circle.
 */
export function modelOrder(models: readonly Model[] = MODELS, provided: readonly string[] = PROVIDED_RELATIONS): Model[] {
  const names = new Set(models.map((model) => model.name));
  for (const model of models) {
    const unknown = model.inputs.filter((input) => !names.has(input) && !provided.includes(input));
    if (unknown.length > 0) throw new Error(`Model ${model.name} reads ${unknown.join(', ')}, which is neither a model nor provided to the models`);
  }
  const { order, circle } = dependencyOrder(models, (model) => model.name, (model) => model.inputs, provided);
  if (circle.length > 0) throw new Error(`The models read each other in a circle: ${circle.join(', ')}`);
  return order;
}

/** A model built in a session: the table named after it holds `rows` rows. */
export interface BuiltModel {
  readonly model: Model;
  readonly rows: number;
}

/**
 * Builds every model, in {@link modelOrder}, into a table named after it, checks each against its
 * contract, then runs every model's row checks (a check may read another model). A failure is a
 * fault in a model, not in the input: it names the model, the row's key and the field. Returns
 * the models in the order they were built.
 */
export async function runModels(session: DuckDbSession, typescript: TypeScriptModels, models: readonly Model[] = MODELS): Promise<BuiltModel[]> {
  const built: BuiltModel[] = [];
  for (const model of modelOrder(models)) {
    if (model.sql) await session.run(`CREATE TABLE ${model.name} AS ${modelSql(model.sql)}`);
    else {
      const build = typescript[model.name];
      if (!build) throw new Error(`Model ${model.name} has no SQL file and no TypeScript to build it`);
      await build(session);
    }
    await checkContract(session, model.name, model.sql ?? `${model.name} (TypeScript)`, model.contract);
    const [{ count }] = (await session.rows<{ count: bigint }>(`SELECT count(*) AS count FROM ${model.name}`)) as [{ count: bigint }];
    built.push({ model, rows: Number(count) });
  }
  const checks = models.flatMap((model) => model.tests.map((test) => ({ relation: model.name, key: model.key!, test })));
  const [failing] = await failingRows(session, checks, 1);
  if (failing) {
    const { relation, key, test } = failing.check;
    throw new Error(`Model ${relation} fails its ${test.test} check on ${test.column}: row ${key}=${failing.key}, field ${failing.field}: ${failing.reason}`);
  }
  return built;
}

/** Checks that `relation` has exactly the contract's columns, in order and type, so a model edit cannot ship a wrong table. */
export async function checkContract(session: DuckDbSession, relation: string, source: string, contract: readonly ContractColumn[]): Promise<void> {
  const described = await session.rows<{ column_name: string; column_type: string }>(`DESCRIBE ${relation}`);
  const actual = described.map((c) => `${c.column_name} ${c.column_type}`).join(', ');
  const expected = contract.map((c) => `${c.name} ${c.type}`).join(', ');
  if (actual !== expected) throw new Error(`Model ${source} produces (${actual}), but its contract (models/models.ts) is (${expected})`);
}

/** Writes model `name` as Parquet (typed: DATE, TIME with microseconds, DECIMAL(10,2)). */
export async function writeModelOutput(session: DuckDbSession, name: string): Promise<string> {
  const file = path.join(session.dir, 'out', `${name}.parquet`);
  await session.run(`COPY ${name} TO $1 (FORMAT parquet, COMPRESSION zstd)`, [file]);
  return file;
}
