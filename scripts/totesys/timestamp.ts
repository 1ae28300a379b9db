/**
 * ToteSys stamps rows with the application's clock: `timestamp(3)` without a zone, written as the
 * UTC wall time. Formatting is hand-rolled because the seeder formats millions of stamps and
 * Date#toISOString plus string surgery is several times slower.
 */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
const dayTexts = new Map<number, string>();

/** 'YYYY-MM-DD' of the UTC day holding `epochMs`. */
export function formatDate(epochMs: number): string {
  const day = Math.floor(epochMs / DAY_MS);
  let text = dayTexts.get(day);
  if (text === undefined) {
    text = new Date(day * DAY_MS).toISOString().slice(0, 10);
    dayTexts.set(day, text);
  }
  return text;
}

/** 'YYYY-MM-DD HH:MM:SS.mmm', the UTC wall time of `epochMs`: what ToteSys writes into timestamp(3). */
export function formatTimestamp(epochMs: number): string {
  const ms = Math.floor(epochMs);
  const inDay = ((ms % DAY_MS) + DAY_MS) % DAY_MS;
  const seconds = Math.floor(inDay / 1000);
  return `${formatDate(ms)} ${PAD2[Math.floor(seconds / 3600)]}:${PAD2[Math.floor(seconds / 60) % 60]}:${PAD2[seconds % 60]}.${PAD3[inDay % 1000]}`;
}

/** Epoch ms of a UTC calendar day given as 'YYYY-MM-DD'. */
export function parseDate(text: string): number {
  const epochMs = Date.parse(`${text}T00:00:00Z`);
  if (Number.isNaN(epochMs)) throw new Error(`not a 'YYYY-MM-DD' date: ${text}`);
  return epochMs;
}
