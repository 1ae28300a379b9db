import type { DuckDbSession } from '../shared/duckdb-session';

const currencyNames = new Intl.DisplayNames(['en'], { type: 'currency', fallback: 'none' });

/**
 * The model `currency_name_lookup(currency_code, currency_name)`, for the batch's currencies
 * (stg_currency), from the platform's internationalisation data (ICU, through Intl.DisplayNames),
 * which SQL cannot reach. Returns the codes it has no name for; dim_currency keeps the code as
 * their name.
 */
export async function createCurrencyNameLookup(session: DuckDbSession): Promise<string[]> {
  const codes = await session.rows<{ code: string }>(`SELECT DISTINCT currency_code AS code FROM stg_currency ORDER BY 1`);
  await session.run(`CREATE TABLE currency_name_lookup (currency_code VARCHAR, currency_name VARCHAR)`);
  const unknown: string[] = [];
  for (const { code } of codes) {
    const name = /^[A-Z]{3}$/.test(code) ? currencyNames.of(code) : undefined;
    if (name) await session.run(`INSERT INTO currency_name_lookup VALUES ($1, $2)`, [code, name]);
    else unknown.push(code);
  }
  return unknown;
}
