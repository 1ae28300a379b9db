/** Bench step: live ToteSys activity between the full and the incremental extract. */
import { applyActivity } from '../totesys/activity';
import { formatTimestamp } from '../totesys/timestamp';
import { openDatabase } from '../../functions/shared/database';
import { stepMain } from './step-process';

export interface ActivityInput {
  readonly url: string;
  readonly writes: number;
}

export interface ActivityOutput {
  /** The application's clock when the first write began: every row the activity touched is stamped at or after it. */
  readonly startedAt: string;
  readonly writes: number;
  readonly byKind: Record<string, number>;
  /** Distinct rows inserted or changed: what the incremental extract must find. */
  readonly rows: number;
  readonly inserted: Record<string, number>;
  readonly updated: Record<string, number>;
  /** Payments deleted, scattered at random over the table: what the incremental extract must notice. */
  readonly deleted: number;
}

/** One deletion per ten writes: ToteSys's foreign keys let a payment go (nothing references it). */
const DELETIONS_PER_WRITE = 0.1;

stepMain(async (input: ActivityInput): Promise<ActivityOutput> => {
  const sql = openDatabase(input.url, { max: 1 });
  try {
    const startedAt = formatTimestamp(Date.now());
    const summary = await applyActivity(sql, { writes: input.writes });
    const deletions = Math.max(1, Math.round(input.writes * DELETIONS_PER_WRITE));
    const deleted = await sql`
      DELETE FROM payment WHERE payment_id IN (
        SELECT payment_id FROM payment WHERE last_updated < ${startedAt}::timestamp ORDER BY random() LIMIT ${deletions}
      )`;
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);
    return {
      startedAt,
      writes: summary.writes,
      byKind: summary.byKind,
      rows: total(summary.inserted) + total(summary.updated),
      inserted: summary.inserted,
      updated: summary.updated,
      deleted: deleted.count,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
});
