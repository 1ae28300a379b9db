import type { DuckDbSession } from '../shared/duckdb-session';
import type { TransformState } from '../shared/processed-manifest';
import { FACT_NAMES, WAREHOUSE_TABLES } from '../shared/warehouse-tables';

const currencyNames = new Intl.DisplayNames(['en'], { type: 'currency', fallback: 'none' });

/**
 * `currency_name_lookup(currency_code, currency_name)` for the batch's currencies, from the
 * platform's internationalisation data (ICU, through Intl.DisplayNames). Returns the codes it has
 * no name for; dim_currency keeps the code as their name.
 */
export async function createCurrencyNameLookup(session: DuckDbSession): Promise<string[]> {
  const codes = await session.rows<{ code: string }>(`SELECT DISTINCT currency_code AS code FROM batch_currency ORDER BY 1`);
  await session.run(`CREATE TABLE currency_name_lookup (currency_code VARCHAR, currency_name VARCHAR)`);
  const unknown: string[] = [];
  for (const { code } of codes) {
    const name = /^[A-Z]{3}$/.test(code) ? currencyNames.of(code) : undefined;
    if (name) await session.run(`INSERT INTO currency_name_lookup VALUES ($1, $2)`, [code, name]);
    else unknown.push(code);
  }
  return unknown;
}

/**
 * `calendar_bounds(first_day, last_day)`: the previous calendar range widened to every date the
 * batch's facts reference. Returns the new range, and whether it changed (dim_date is emitted
 * only then).
 */
export async function createCalendarBounds(
  session: DuckDbSession,
  previous: TransformState['calendar'],
): Promise<{ range: TransformState['calendar']; changed: boolean }> {
  const dates = FACT_NAMES.flatMap((fact) =>
    WAREHOUSE_TABLES[fact].columns.filter((c) => c.type === 'date').map((c) => `SELECT "${c.name}" AS day FROM out_${fact}`),
  );
  const known = previous ? [`SELECT CAST($1 AS DATE) AS day`, `SELECT CAST($2 AS DATE) AS day`] : [];
  await session.run(
    `CREATE TABLE calendar_bounds AS SELECT min(day) AS first_day, max(day) AS last_day FROM (${[...dates, ...known].join(' UNION ALL ')})`,
    previous ? [previous.firstDay, previous.lastDay] : [],
  );
  const [bounds] = await session.rows<{ first_day: string | null; last_day: string | null }>(
    `SELECT strftime(first_day, '%Y-%m-%d') AS first_day, strftime(last_day, '%Y-%m-%d') AS last_day FROM calendar_bounds`,
  );
  if (!bounds?.first_day || !bounds.last_day) return { range: null, changed: false };
  const range = { firstDay: bounds.first_day, lastDay: bounds.last_day };
  return { range, changed: range.firstDay !== previous?.firstDay || range.lastDay !== previous?.lastDay };
}
