/**
 * npm run staging-models
 *
 * Writes the staging models, functions/transform/models/staging/stg_<table>.sql, from the ToteSys
 * tables in functions/shared/totesys-tables.ts (functions/transform/staging-models.ts says how).
 * Run it after changing a ToteSys table; tests/unit/transform-staging-models.test.ts fails until then.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { STAGING_MODELS_DIR, stagingModelFiles } from '../functions/transform/staging-models';

mkdirSync(STAGING_MODELS_DIR, { recursive: true });
const files = stagingModelFiles();
for (const { file, sql } of files) writeFileSync(file, sql);
// A table no longer read leaves no model behind.
for (const name of readdirSync(STAGING_MODELS_DIR)) {
  if (!files.some((f) => path.basename(f.file) === name)) rmSync(path.join(STAGING_MODELS_DIR, name));
}
console.log(`Wrote ${files.length} staging models to ${path.relative(process.cwd(), STAGING_MODELS_DIR)}/`);
