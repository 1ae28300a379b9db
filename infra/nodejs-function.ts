import { AssetType, TerraformAsset } from 'cdktf';
import { Construct } from 'constructs';
import { buildSync, version as esbuildVersion, type Metafile } from 'esbuild';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { listFiles, writeZipArchive } from './zip-archive';

/**
 * The one way a Lambda's package is built: esbuild bundles the handler into `index.js`, the files
 * it reads at run time are copied next to it, native packages (which cannot be bundled) are
 * shipped in `node_modules/` with their runtime dependencies, and the folder becomes a
 * deterministic zip. The construct below hands that zip to Terraform as a `TerraformAsset`;
 * `scripts/package-functions.ts` writes the same zips to a folder.
 */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/** What Lambda runs: `nodejs22.x` on x86_64 Amazon Linux (glibc). */
export const LAMBDA_PLATFORM = { os: 'linux', cpu: 'x64', libc: 'glibc', target: 'node22' } as const;

/** Lambda's package limits: a zip uploaded directly (not through S3), and the unpacked code. */
export const LAMBDA_LIMITS = { directUploadZipBytes: 50 * 1024 * 1024, unzippedBytes: 250 * 1024 * 1024 } as const;

export interface NodejsFunctionBundle {
  /** The handler module, relative to the project root; it exports `handler`. */
  readonly entry: string;
  /** Folders the code reads at run time relative to `__dirname`, copied next to `index.js`. */
  readonly assets?: readonly { readonly from: string; readonly to: string }[];
  /** Packages with native code: left out of the bundle, shipped in `node_modules/` when imported. */
  readonly nativePackages?: readonly string[];
}

export interface FunctionPackage {
  readonly name: string;
  /** The package's files, as Lambda unpacks them. */
  readonly dir: string;
  readonly zipFile: string;
  /** Base64 SHA-256 of the zip: Lambda's CodeSha256 and Terraform's `source_code_hash`. */
  readonly codeSha256: string;
  readonly zippedBytes: number;
  readonly unzippedBytes: number;
  readonly files: number;
  /** Native packages shipped in `node_modules/`. */
  readonly shippedPackages: readonly string[];
}

/**
 * Builds `<outDir>/<name>/` (the files) and `<outDir>/<name>.zip`, replacing earlier ones.
 * Fails when the bundle would contain a devDependency or when a native package has no Linux x64
 * binary installed.
 */
export function buildFunctionPackage(name: string, bundle: NodejsFunctionBundle, outDir: string): FunctionPackage {
  const dir = path.join(outDir, name);
  const zipFile = path.join(outDir, `${name}.zip`);
  rmSync(dir, { recursive: true, force: true });
  rmSync(zipFile, { force: true });
  mkdirSync(dir, { recursive: true });

  const nativePackages = bundle.nativePackages ?? [];
  const result = buildSync({
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [bundle.entry],
    outfile: path.join(dir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: LAMBDA_PLATFORM.target,
    format: 'cjs',
    // ESM builds first: the AWS SDK tree-shakes better from them.
    mainFields: ['module', 'main'],
    keepNames: true,
    minify: false,
    sourcemap: true,
    sourcesContent: false,
    external: nativePackages.flatMap((pkg) => [pkg, `${pkg}/*`]),
    metafile: true,
    logLevel: 'error',
  });
  const lock = readPackageLock();
  refuseDevDependencies(name, result.metafile, lock);
  sourcesRelativeToProject(path.join(dir, 'index.js.map'));

  for (const asset of bundle.assets ?? []) {
    cpSync(path.join(PROJECT_ROOT, asset.from), path.join(dir, asset.to), { recursive: true });
  }

  const imported = importedPackages(result.metafile);
  const shipped = new Map<string, string>();
  for (const pkg of nativePackages.filter((p) => imported.has(p))) {
    shipPackage(pkg, PROJECT_ROOT, dir, shipped, lock, false);
    const files = listFiles(path.join(dir, 'node_modules'));
    if (!files.some((file) => file.endsWith('.node'))) {
      throw new Error(
        `${name}: ${pkg} has no ${LAMBDA_PLATFORM.os}-${LAMBDA_PLATFORM.cpu} native binary installed. ` +
          `On another platform run: npm install --no-save --os=${LAMBDA_PLATFORM.os} --cpu=${LAMBDA_PLATFORM.cpu} --libc=${LAMBDA_PLATFORM.libc}`,
      );
    }
  }

  const zip = writeZipArchive(dir, zipFile);
  return {
    name,
    dir,
    zipFile,
    codeSha256: createHash('sha256').update(readFileSync(zipFile)).digest('base64'),
    zippedBytes: zip.zippedBytes,
    unzippedBytes: zip.unzippedBytes,
    files: zip.files,
    shippedPackages: [...shipped.keys()].sort(),
  };
}

/**
 * The package of `name`, built at most once per version of its sources: kept in
 * `node_modules/.cache/totesys-pipeline/functions/<name>-<hash>/`, where the hash covers the
 * function code, the lockfile, this builder and the bundle settings. A synth or a test suite
 * reuses it instead of running esbuild and zipping DuckDB again.
 */
export function cachedFunctionPackage(name: string, bundle: NodejsFunctionBundle, cacheDir = DEFAULT_CACHE_DIR): FunctionPackage {
  const entry = path.join(cacheDir, `${name}-${sourceHash(name, bundle).slice(0, 20)}`);
  const summaryFile = path.join(entry, `${name}.json`);
  // Paths are taken from where the entry is now, not where it was built (the project may have moved).
  const cached = (): FunctionPackage => ({
    ...(JSON.parse(readFileSync(summaryFile, 'utf-8')) as FunctionPackage),
    dir: path.join(entry, name),
    zipFile: path.join(entry, `${name}.zip`),
  });
  if (existsSync(summaryFile)) return cached();

  // Built aside and renamed into place, so a parallel build (another test worker) never sees half a package.
  const building = path.join(cacheDir, `.building-${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const built = buildFunctionPackage(name, bundle, building);
    writeFileSync(path.join(building, `${name}.json`), JSON.stringify(built, null, 2));
    try {
      renameSync(building, entry);
    } catch (error) {
      if (!existsSync(summaryFile)) throw error;
    }
    for (const stale of readdirSync(cacheDir).filter((d) => d.startsWith(`${name}-`) && path.join(cacheDir, d) !== entry)) {
      rmSync(path.join(cacheDir, stale), { recursive: true, force: true });
    }
    return cached();
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
}

export const DEFAULT_CACHE_DIR = path.join(PROJECT_ROOT, 'node_modules', '.cache', 'totesys-pipeline', 'functions');

export interface NodejsFunctionPackageProps {
  readonly name: string;
  readonly bundle: NodejsFunctionBundle;
  /** A package built elsewhere (tests, CI artifacts); by default it is built here, cached. */
  readonly prebuilt?: FunctionPackage;
}

/** A function's package as a Terraform asset: `asset.path` is the zip for `aws_lambda_function.filename`. */
export class NodejsFunctionPackage extends Construct {
  readonly package: FunctionPackage;
  readonly asset: TerraformAsset;

  constructor(scope: Construct, id: string, props: NodejsFunctionPackageProps) {
    super(scope, id);
    this.package = props.prebuilt ?? cachedFunctionPackage(props.name, props.bundle);
    this.asset = new TerraformAsset(this, 'zip', {
      path: this.package.zipFile,
      type: AssetType.FILE,
      assetHash: Buffer.from(this.package.codeSha256, 'base64').toString('hex').slice(0, 32),
    });
  }
}

function sourceHash(name: string, bundle: NodejsFunctionBundle): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ name, bundle, esbuildVersion, platform: LAMBDA_PLATFORM }));
  const inputs = [
    ...listFiles(path.join(PROJECT_ROOT, 'functions')).map((file) => path.join('functions', file)),
    'package-lock.json',
    path.relative(PROJECT_ROOT, __filename),
    path.relative(PROJECT_ROOT, require.resolve('./zip-archive')),
  ];
  for (const file of inputs) {
    hash.update(`\0${file}\0`);
    hash.update(readFileSync(path.join(PROJECT_ROOT, file)));
  }
  return hash.digest('hex');
}

/**
 * esbuild names sources relative to where it wrote the bundle; renamed relative to the project
 * root they read the same in stack traces (`functions/transform/run-models.ts`), and the package
 * is the same bytes wherever it was built.
 */
function sourcesRelativeToProject(mapFile: string): void {
  const map = JSON.parse(readFileSync(mapFile, 'utf-8')) as { sources: string[] };
  map.sources = map.sources.map((source) => path.relative(PROJECT_ROOT, path.resolve(path.dirname(mapFile), source)).split(path.sep).join('/'));
  writeFileSync(mapFile, JSON.stringify(map));
}

interface PackageLock {
  readonly packages: Readonly<Record<string, { readonly dev?: boolean; readonly version?: string }>>;
}

function readPackageLock(): PackageLock {
  return JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf-8')) as PackageLock;
}

/** The lockfile entry (`node_modules/a/node_modules/b`) of a file esbuild read, or undefined for project files. */
function lockEntryOf(input: string): string | undefined {
  const parts = input.split('/');
  const last = parts.lastIndexOf('node_modules');
  if (last < 0) return undefined;
  const scoped = parts[last + 1]?.startsWith('@');
  return parts.slice(0, last + (scoped ? 3 : 2)).join('/');
}

function refuseDevDependencies(name: string, metafile: Metafile, lock: PackageLock): void {
  const devOnly = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const entry = lockEntryOf(input);
    if (entry && lock.packages[entry]?.dev) devOnly.add(entry.slice(entry.lastIndexOf('node_modules/') + 'node_modules/'.length));
  }
  if (devOnly.size > 0) {
    throw new Error(`${name}: the bundle would contain devDependencies (${[...devOnly].join(', ')}); move them to dependencies or stop importing them`);
  }
}

/** Package names the bundle left external and requires at run time. */
function importedPackages(metafile: Metafile): Set<string> {
  const names = new Set<string>();
  for (const output of Object.values(metafile.outputs)) {
    for (const imported of output.imports) {
      if (!imported.external || imported.path.startsWith('node:')) continue;
      const parts = imported.path.split('/');
      names.add(imported.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
    }
  }
  return names;
}

interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly os?: readonly string[];
  readonly cpu?: readonly string[];
  readonly libc?: readonly string[];
}

/** Copies an installed package and its runtime dependencies into `<dir>/node_modules/`, Lambda's platform only. */
function shipPackage(name: string, fromDir: string, dir: string, shipped: Map<string, string>, lock: PackageLock, optional: boolean): void {
  const source = findPackageDir(name, fromDir);
  if (!source) {
    if (optional) return;
    throw new Error(`Cannot ship ${name}: it is not installed (run npm ci)`);
  }
  const manifest = JSON.parse(readFileSync(path.join(source, 'package.json'), 'utf-8')) as PackageManifest;
  if (!runsOnLambda(manifest)) return;
  const earlier = shipped.get(name);
  if (earlier !== undefined) {
    if (earlier !== manifest.version) throw new Error(`Cannot ship ${name} ${manifest.version}: ${earlier} is shipped already`);
    return;
  }
  const entry = path.relative(PROJECT_ROOT, source).split(path.sep).join('/');
  if (lock.packages[entry]?.dev) throw new Error(`Cannot ship ${name}: it is installed only as a devDependency`);
  shipped.set(name, manifest.version);
  cpSync(source, path.join(dir, 'node_modules', name), {
    recursive: true,
    filter: (file) => {
      const relative = path.relative(source, file);
      return !relative.split(path.sep).includes('node_modules') && !/\.(md|d\.ts|d\.ts\.map)$/.test(relative);
    },
  });
  for (const dependency of Object.keys(manifest.dependencies ?? {})) shipPackage(dependency, source, dir, shipped, lock, false);
  for (const dependency of Object.keys(manifest.optionalDependencies ?? {})) shipPackage(dependency, source, dir, shipped, lock, true);
}

/** npm's `os`/`cpu`/`libc` fields: a list of allowed values, or of `!excluded` ones. */
function runsOnLambda(manifest: PackageManifest): boolean {
  const allows = (list: readonly string[] | undefined, value: string) => {
    if (list === undefined || list.length === 0) return true;
    if (list.includes(`!${value}`)) return false;
    return list.includes(value) || list.every((v) => v.startsWith('!'));
  };
  return allows(manifest.os, LAMBDA_PLATFORM.os) && allows(manifest.cpu, LAMBDA_PLATFORM.cpu) && allows(manifest.libc, LAMBDA_PLATFORM.libc);
}

/** Node's lookup: `<dir>/node_modules/<name>`, from `fromDir` up to the project root. */
function findPackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json')) && statSync(candidate).isDirectory()) return candidate;
    if (dir === PROJECT_ROOT || path.dirname(dir) === dir) return undefined;
  }
}
