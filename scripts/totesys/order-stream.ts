import { accountNumber, itemCode } from './fake';
import { hash32, Random } from './random';
import { DAY_MS, MINUTE_MS, formatDate } from './timestamp';

/**
 * The seeded history of ToteSys orders: every sales and purchase order with its transaction and
 * payment, in the order the application created them. It is a pure function of its arguments, so
 * the seeder can replay it once per table (one COPY at a time on a connection) and get the same
 * rows every time without holding a table in memory.
 */

/** Trading hours: orders are taken on weekdays, 08:00 to 19:00 UTC. */
const OPENING_MINUTE = 8 * 60;
const MINUTES_PER_TRADING_DAY = 11 * 60;
/** The real database was loaded on 2022-11-03 at 14:20; trading started the minute after. */
const FIRST_DAY = Date.UTC(2022, 10, 3);
const FIRST_DAY_SKIPPED_MINUTES = 14 * 60 + 21 - OPENING_MINUTE;
const LAST_DAY = Date.UTC(2025, 4, 30);

/** The app stamps its work about ten seconds into the minute (09.8 s to 10.7 s in the real data). */
const STAMP_OFFSET_MS = 9_800;
const STAMP_JITTER_MS = 900;
/** Payments are settled by a daily job at about 07:55:12 that stamps every row it pays at once. */
const SETTLEMENT_OFFSET_MS = (7 * 60 + 55) * MINUTE_MS + 11_600;
const SETTLEMENT_JITTER_MS = 600;

const TRADING_DAYS: readonly number[] = (() => {
  const days: number[] = [];
  for (let day = FIRST_DAY; day <= LAST_DAY; day += DAY_MS) {
    const weekday = new Date(day).getUTCDay();
    if (weekday !== 0 && weekday !== 6) days.push(day);
  }
  return days;
})();

/**
 * The application's clock as a count of trading minutes since trading began; every row stamped
 * in the same minute carries the same timestamp, as rows written in one batch of the app do.
 */
export class TradingClock {
  readonly minutes = TRADING_DAYS.length * MINUTES_PER_TRADING_DAY - FIRST_DAY_SKIPPED_MINUTES;
  /** The last moment of the seeded history: nothing is stamped later. */
  readonly end: number;

  constructor(private readonly seed: number) {
    this.end = this.stamp(this.minutes - 1);
  }

  /** Epoch ms of the stamp the app puts on rows written in trading minute `minute`. */
  stamp(minute: number): number {
    const sinceFirstOpening = minute + FIRST_DAY_SKIPPED_MINUTES;
    const day = TRADING_DAYS[Math.floor(sinceFirstOpening / MINUTES_PER_TRADING_DAY)];
    if (day === undefined) throw new RangeError(`trading minute ${minute} is outside the seeded history`);
    const minuteOfDay = OPENING_MINUTE + (sinceFirstOpening % MINUTES_PER_TRADING_DAY);
    return day + minuteOfDay * MINUTE_MS + STAMP_OFFSET_MS + (hash32(this.seed, 1, minute) % STAMP_JITTER_MS);
  }

  /** Epoch ms of the settlement job's stamp on the calendar day starting at `day`. */
  settlement(day: number): number {
    return day + SETTLEMENT_OFFSET_MS + (hash32(this.seed, 2, day / DAY_MS) % SETTLEMENT_JITTER_MS);
  }
}

export interface OrderCounts {
  sales: number;
  purchases: number;
}

/** Ids the orders may reference: dimension rows 1..n, designs only once they exist. */
export interface Dimensions {
  addresses: number;
  counterparties: number;
  staff: number;
  currencies: number;
  /** Designs in id order: how many exist from the start, then the trading minute each later one appeared. */
  initialDesigns: number;
  laterDesignMinutes: readonly number[];
}

export const PAYMENT_TYPE_IDS = { SALES_RECEIPT: 1, SALES_REFUND: 2, PURCHASE_PAYMENT: 3, PURCHASE_REFUND: 4 } as const;

export interface Payment {
  createdAt: number;
  lastUpdated: number;
  paymentTypeId: number;
  amountCents: number;
  paid: boolean;
  paymentDate: string;
  companyAccount: number;
  counterpartyAccount: number;
}

interface OrderBase {
  orderId: number;
  /** Also the payment's id: each transaction has exactly one payment. */
  transactionId: number;
  createdAt: number;
  lastUpdated: number;
  staffId: number;
  counterpartyId: number;
  currencyId: number;
  deliveryLocationId: number;
  agreedDeliveryDate: string;
  agreedPaymentDate: string;
  payment: Payment;
}

export interface SalesOrder extends OrderBase {
  kind: 'SALE';
  designId: number;
  unitsSold: number;
  unitPriceCents: number;
}

export interface PurchaseOrder extends OrderBase {
  kind: 'PURCHASE';
  itemCode: string;
  itemQuantity: number;
  itemUnitPriceCents: number;
}

export type Order = SalesOrder | PurchaseOrder;

/** What the business trades: tote bags sell in bulk for a few pounds each; supplies vary widely. */
export const SALE_RANGE = { units: [1_000, 100_000], priceCents: [200, 400] } as const;
export const PURCHASE_RANGE = { quantity: [1, 1_000], priceCents: [100, 100_000] } as const;

/** numeric(10, 2) holds at most 99,999,999.99. */
const MAX_AMOUNT_CENTS = 9_999_999_999;

/** What a payment for `quantity` at `priceCents` comes to, kept within numeric(10, 2). */
export function paymentCents(quantity: number, priceCents: number): number {
  return Math.min(quantity * priceCents, MAX_AMOUNT_CENTS);
}

/** Cents as numeric text: 123456 -> '1234.56'. */
export function centsText(cents: number): string {
  const fraction = cents % 100;
  return `${(cents - fraction) / 100}.${fraction < 10 ? '0' : ''}${fraction}`;
}
const SALES_AMENDED = 0.1;
const PURCHASES_AMENDED = 0.05;
const REFUNDS = 0.04;
/** Some counterparties never pay (or are never paid) on time: their payments stay open. */
const LEFT_UNPAID = 0.08;

export function* orderStream(counts: OrderCounts, dimensions: Dimensions, clock: TradingClock, seed: number): Generator<Order> {
  const random = new Random(hash32(seed, 3));
  const total = counts.sales + counts.purchases;
  let salesLeft = counts.sales;
  let purchasesLeft = counts.purchases;
  let designsSoFar = dimensions.initialDesigns;
  let nextLaterDesign = 0;

  for (let index = 0; index < total; index++) {
    // Drawing the kind in proportion to what is left gives exact totals in a random interleaving.
    const isSale = random.next() * (salesLeft + purchasesLeft) < salesLeft;
    if (isSale) salesLeft--;
    else purchasesLeft--;
    // Orders spread evenly over the trading minutes, in order; busy scales put several in one minute.
    const minute = Math.floor(((index + random.next()) * clock.minutes) / total);
    const createdAt = clock.stamp(minute);
    while (nextLaterDesign < dimensions.laterDesignMinutes.length && (dimensions.laterDesignMinutes[nextLaterDesign] as number) <= minute) {
      designsSoFar++;
      nextLaterDesign++;
    }

    const createdDay = Math.floor(createdAt / DAY_MS) * DAY_MS;
    const agreedPaymentDay = createdDay + random.int(1, 6) * DAY_MS;
    const staffId = random.int(1, dimensions.staff);
    const counterpartyId = random.int(1, dimensions.counterparties);
    const currencyId = random.int(1, dimensions.currencies);
    const deliveryLocationId = random.int(1, dimensions.addresses);
    const agreedDeliveryDate = formatDate(createdDay + random.int(0, 7) * DAY_MS);
    const agreedPaymentDate = formatDate(agreedPaymentDay);
    const quantity = isSale ? random.int(...SALE_RANGE.units) : random.int(...PURCHASE_RANGE.quantity);
    const priceCents = isSale ? random.int(...SALE_RANGE.priceCents) : random.int(...PURCHASE_RANGE.priceCents);
    const designId = isSale ? random.int(1, designsSoFar) : 0;
    const code = isSale ? '' : itemCode(random);

    // An amended order keeps its id and creation stamp; last_updated moves to the amendment's minute,
    // unless that would be after the history ends.
    let lastUpdated = createdAt;
    if (random.chance(isSale ? SALES_AMENDED : PURCHASES_AMENDED)) {
      const amendedMinute = minute + random.int(30, 3 * MINUTES_PER_TRADING_DAY);
      if (amendedMinute < clock.minutes) lastUpdated = clock.stamp(amendedMinute);
    }

    const refund = random.chance(REFUNDS);
    const leftUnpaid = random.chance(LEFT_UNPAID);
    // Settlement runs on the agreed day, always a later day than the order, so it stamps after creation.
    const settledAt = clock.settlement(agreedPaymentDay);
    const paid = !leftUnpaid && settledAt <= clock.end;
    const payment: Payment = {
      createdAt,
      lastUpdated: paid ? settledAt : createdAt,
      paymentTypeId: isSale
        ? refund ? PAYMENT_TYPE_IDS.SALES_REFUND : PAYMENT_TYPE_IDS.SALES_RECEIPT
        : refund ? PAYMENT_TYPE_IDS.PURCHASE_REFUND : PAYMENT_TYPE_IDS.PURCHASE_PAYMENT,
      amountCents: paymentCents(quantity, priceCents),
      paid,
      paymentDate: agreedPaymentDate,
      companyAccount: accountNumber(random),
      counterpartyAccount: accountNumber(random),
    };
    // Literal objects of two fixed shapes: object spread here made generation several times slower.
    yield isSale
      ? {
          kind: 'SALE', orderId: counts.sales - salesLeft, transactionId: index + 1, createdAt, lastUpdated, staffId, counterpartyId,
          currencyId, deliveryLocationId, agreedDeliveryDate, agreedPaymentDate, payment, designId, unitsSold: quantity, unitPriceCents: priceCents,
        }
      : {
          kind: 'PURCHASE', orderId: counts.purchases - purchasesLeft, transactionId: index + 1, createdAt, lastUpdated, staffId, counterpartyId,
          currencyId, deliveryLocationId, agreedDeliveryDate, agreedPaymentDate, payment, itemCode: code, itemQuantity: quantity, itemUnitPriceCents: priceCents,
        };
  }
}
