import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TOTESYS_TABLE_NAMES } from '../../functions/shared/totesys-tables';
import { STAGING_MODELS_DIR, stagingModelFiles } from '../../functions/transform/staging-models';

/**
 * The staging models are SQL files Transform runs, written from functions/shared/totesys-tables.ts
 * by `npm run staging-models`: this fails while a file is stale, so a ToteSys column changed in
 * one place is changed in both.
 */
describe('the staging models (functions/transform/models/staging)', () => {
  it('are one file per ToteSys table, stg_<table>.sql, and nothing else', () => {
    expect(readdirSync(STAGING_MODELS_DIR).sort()).toEqual(TOTESYS_TABLE_NAMES.map((table) => `stg_${table}.sql`).sort());
  });

  it.each(stagingModelFiles().map(({ table, file, sql }) => [table, file, sql]))('stg_%s.sql is as npm run staging-models writes it', (_table, file, sql) => {
    const written = readFileSync(file, 'utf-8');
    if (written !== sql) throw new Error(`${path.relative(process.cwd(), file)} is stale: run npm run staging-models`);
  });
});
