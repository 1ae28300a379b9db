import type { PipelineFunctionName } from '../functions/shared/step-contract';
import type { NodejsFunctionBundle } from './nodejs-function';

/**
 * What goes into each step's Lambda package. Transform reads its SQL models and Load its
 * migrations from `__dirname` at run time, so those folders sit next to the bundled `index.js`.
 * DuckDB is native code: it stays out of the bundle and ships in `node_modules/` of the steps
 * that import it (Transform and Load; Extract and Verify do not, and ship none).
 */
const DUCKDB = ['@duckdb/node-api'];

export const PIPELINE_FUNCTION_BUNDLES: Readonly<Record<PipelineFunctionName, NodejsFunctionBundle>> = {
  extract: { entry: 'functions/extract/handler.ts', nativePackages: DUCKDB },
  transform: {
    entry: 'functions/transform/handler.ts',
    assets: [{ from: 'functions/transform/models', to: 'models' }],
    nativePackages: DUCKDB,
  },
  load: {
    entry: 'functions/load/handler.ts',
    assets: [{ from: 'functions/load/migrations', to: 'migrations' }],
    nativePackages: DUCKDB,
  },
  verify: { entry: 'functions/verify/handler.ts', nativePackages: DUCKDB },
};
