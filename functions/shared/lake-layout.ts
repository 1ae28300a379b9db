/**
 * The layout of the lake's two buckets, by top-level prefix. The key builders build every key
 * under one of these and the roles' policies (infra/functions.ts) grant each step the prefixes it
 * reads and writes, both from here, so that what a step writes and what its role allows cannot
 * drift apart.
 *
 * Both buckets hold their batches' manifests under the same prefix, keyed the same way
 * (batch-manifests.ts).
 */
export const MANIFEST_PREFIX = 'manifests/';

/**
 * The ingestion bucket: Extract writes it; Transform and Verify read it (ingestion-manifest.ts).
 *
 *   manifests/…                                         the batches' manifests
 *   tables/<table>/batch-<n>/<attemptId>.jsonl.gz       the table's new row versions in batch n
 *   deletions/<table>/batch-<n>/<attemptId>.jsonl.gz    the table's keys deleted since batch n - 1
 *   keys/batch-<n>/<attemptId>.json.gz                  every table's key set as of batch n
 *   lake/identity.json                                  the lake's identity, written by the first extract
 */
export const INGESTION_PREFIX = {
  manifests: MANIFEST_PREFIX,
  tables: 'tables/',
  deletions: 'deletions/',
  keys: 'keys/',
  lake: 'lake/',
} as const;

/**
 * The processed bucket: Transform writes it, and reads back its state and held rows; Load reads
 * it (processed-manifest.ts, quarantine.ts). Batch n here is the transform of ingestion batch n.
 *
 *   manifests/…                                               the batches' manifests
 *   tables/<warehouse table>/batch-<n>/<attemptId>.parquet    the rows Load applies for batch n
 *   state/<source table>/batch-<n>/<attemptId>.parquet        the source rows batch n changed,
 *                                                             or a compaction of all of them
 *   deletions/batch-<n>/<attemptId>.parquet                   the ToteSys rows batch n saw deleted
 *   quarantine/batch-<n>/<attemptId>.jsonl.gz                 the rows held after batch n
 */
export const PROCESSED_PREFIX = {
  manifests: MANIFEST_PREFIX,
  tables: 'tables/',
  state: 'state/',
  deletions: 'deletions/',
  quarantine: 'quarantine/',
} as const;
