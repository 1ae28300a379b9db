/**
 * Builds the Lambda packages (the three steps and verify) exactly as `cdktf synth` does (infra/nodejs-function.ts):
 *
 *   npx tsx scripts/package-functions.ts [outDir]     (default dist/functions)
 *
 * writes <outDir>/<step>.zip and the unzipped <outDir>/<step>/ for each step, and prints their
 * sizes against Lambda's limits.
 */
import path from 'node:path';
import { PIPELINE_FUNCTIONS } from '../functions/shared/step-contract';
import { PIPELINE_FUNCTION_BUNDLES } from '../infra/function-bundles';
import { buildFunctionPackage, LAMBDA_LIMITS, PROJECT_ROOT } from '../infra/nodejs-function';

const outDir = path.resolve(process.argv[2] ?? path.join(PROJECT_ROOT, 'dist', 'functions'));
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

let tooLarge = false;
for (const step of PIPELINE_FUNCTIONS) {
  const started = Date.now();
  const pkg = buildFunctionPackage(step, PIPELINE_FUNCTION_BUNDLES[step], outDir);
  const notes = [
    pkg.zippedBytes > LAMBDA_LIMITS.directUploadZipBytes ? 'zip over the 50 MB direct-upload limit: upload through S3' : '',
    pkg.unzippedBytes > LAMBDA_LIMITS.unzippedBytes ? 'OVER the 250 MB unzipped limit' : '',
  ].filter(Boolean);
  tooLarge ||= pkg.unzippedBytes > LAMBDA_LIMITS.unzippedBytes;
  console.log(
    `${step.padEnd(9)} ${path.relative(process.cwd(), pkg.zipFile)}  zipped ${mb(pkg.zippedBytes)}, unzipped ${mb(pkg.unzippedBytes)}, ` +
      `${pkg.files} files${pkg.shippedPackages.length ? `, ships ${pkg.shippedPackages.join(' ')}` : ''} (${Date.now() - started} ms)` +
      (notes.length ? `  ${notes.join('; ')}` : ''),
  );
}
if (tooLarge) process.exitCode = 1;
