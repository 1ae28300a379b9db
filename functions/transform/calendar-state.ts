import type { DuckDbSession } from '../shared/duckdb-session';
import type { TransformState } from '../shared/processed-manifest';

/**
 * The calendar's range is carried from batch to batch in the processed manifest; the rule that
 * widens it and decides when dim_date is written is SQL (models/intermediate/int_calendar_range.sql,
 * models/marts/dim_date.sql). These two functions only move the range in and out of the session.
 */

/** `previous_calendar_range(first_day, last_day)`: the previous batch's range, or no row before there was one. */
export async function createPreviousCalendarRange(session: DuckDbSession, previous: TransformState['calendar']): Promise<void> {
  await session.run(`CREATE TABLE previous_calendar_range (first_day DATE, last_day DATE)`);
  if (previous) await session.run(`INSERT INTO previous_calendar_range VALUES (CAST($1 AS DATE), CAST($2 AS DATE))`, [previous.firstDay, previous.lastDay]);
}

/** The range int_calendar_range built, to carry to the next batch: null while no fact has a date. */
export async function readCalendarRange(session: DuckDbSession): Promise<TransformState['calendar']> {
  const [range] = await session.rows<{ first_day: string | null; last_day: string | null }>(
    `SELECT strftime(first_day, '%Y-%m-%d') AS first_day, strftime(last_day, '%Y-%m-%d') AS last_day FROM int_calendar_range`,
  );
  return range?.first_day && range.last_day ? { firstDay: range.first_day, lastDay: range.last_day } : null;
}
