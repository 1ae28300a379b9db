import { dependencyOrder } from './dependency-order';

/**
 * The one list of ToteSys tables the pipeline reads, with each column's type exactly as
 * PostgreSQL's `format_type` prints it. Extract compares the live database with this list before
 * it reads anything (schema drift), and it selects these columns, in this order, by name.
 */
export interface SourceTable {
  readonly name: TotesysTableName;
  readonly primaryKey: string;
  readonly columns: Readonly<Record<string, string>>;
  /** Columns that may be null; every other column is NOT NULL in ToteSys. */
  readonly nullable?: readonly string[];
  /**
   * Foreign keys: column -> the table whose primary key it holds. Transform checks that each one
   * resolves (the `relationships` checks declared in functions/transform/models/models.ts),
   * against the current rows it keeps of the referenced tables (functions/transform/source-state.ts).
   */
  readonly references?: Readonly<Record<string, TotesysTableName>>;
  /**
   * The transaction's foreign keys to the order it records. Transform keeps no state of the order
   * tables, so it cannot check these as it checks `references`; they order inserts all the same.
   */
  readonly orderReferences?: Readonly<Record<string, TotesysTableName>>;
}

/** The labels of ToteSys's two enum types. */
export const TOTESYS_ENUM_LABELS: Readonly<Record<string, readonly string[]>> = {
  '"PaymentTypeName"': ['SALES_RECEIPT', 'SALES_REFUND', 'PURCHASE_PAYMENT', 'PURCHASE_REFUND'],
  '"TransactionType"': ['SALE', 'PURCHASE'],
};

/** Text columns that hold dates as 'YYYY-MM-DD'. */
export const TEXT_DATE_COLUMNS: readonly string[] = ['agreed_delivery_date', 'agreed_payment_date', 'payment_date'];

export const TOTESYS_TABLE_NAMES = [
  'address',
  'counterparty',
  'currency',
  'department',
  'design',
  'payment',
  'payment_type',
  'purchase_order',
  'sales_order',
  'staff',
  'transaction',
] as const;

export type TotesysTableName = (typeof TOTESYS_TABLE_NAMES)[number];

const stamps = { created_at: 'timestamp(3) without time zone', last_updated: 'timestamp(3) without time zone' };

export const TOTESYS_TABLES: Readonly<Record<TotesysTableName, SourceTable>> = {
  address: {
    name: 'address',
    primaryKey: 'address_id',
    columns: {
      address_id: 'integer',
      address_line_1: 'text',
      address_line_2: 'text',
      district: 'text',
      city: 'text',
      postal_code: 'text',
      country: 'text',
      phone: 'text',
      ...stamps,
    },
    nullable: ['address_line_2', 'district'],
  },
  counterparty: {
    name: 'counterparty',
    primaryKey: 'counterparty_id',
    columns: {
      counterparty_id: 'integer',
      counterparty_legal_name: 'text',
      legal_address_id: 'integer',
      commercial_contact: 'text',
      delivery_contact: 'text',
      ...stamps,
    },
    nullable: ['commercial_contact', 'delivery_contact'],
    references: { legal_address_id: 'address' },
  },
  currency: {
    name: 'currency',
    primaryKey: 'currency_id',
    columns: { currency_id: 'integer', currency_code: 'character varying(3)', ...stamps },
  },
  department: {
    name: 'department',
    primaryKey: 'department_id',
    columns: { department_id: 'integer', department_name: 'text', location: 'text', manager: 'text', ...stamps },
    nullable: ['location', 'manager'],
  },
  design: {
    name: 'design',
    primaryKey: 'design_id',
    columns: { design_id: 'integer', design_name: 'text', file_location: 'text', file_name: 'text', ...stamps },
  },
  payment: {
    name: 'payment',
    primaryKey: 'payment_id',
    columns: {
      payment_id: 'integer',
      transaction_id: 'integer',
      counterparty_id: 'integer',
      payment_amount: 'numeric(10,2)',
      currency_id: 'integer',
      payment_type_id: 'integer',
      paid: 'boolean',
      payment_date: 'text',
      company_ac_number: 'integer',
      counterparty_ac_number: 'integer',
      ...stamps,
    },
    references: { transaction_id: 'transaction', counterparty_id: 'counterparty', currency_id: 'currency', payment_type_id: 'payment_type' },
  },
  payment_type: {
    name: 'payment_type',
    primaryKey: 'payment_type_id',
    columns: { payment_type_id: 'integer', payment_type_name: '"PaymentTypeName"', ...stamps },
  },
  purchase_order: {
    name: 'purchase_order',
    primaryKey: 'purchase_order_id',
    columns: {
      purchase_order_id: 'integer',
      staff_id: 'integer',
      counterparty_id: 'integer',
      item_code: 'text',
      item_quantity: 'integer',
      item_unit_price: 'numeric(10,2)',
      currency_id: 'integer',
      agreed_delivery_date: 'text',
      agreed_payment_date: 'text',
      agreed_delivery_location_id: 'integer',
      ...stamps,
    },
    references: { staff_id: 'staff', counterparty_id: 'counterparty', currency_id: 'currency', agreed_delivery_location_id: 'address' },
  },
  sales_order: {
    name: 'sales_order',
    primaryKey: 'sales_order_id',
    columns: {
      sales_order_id: 'integer',
      design_id: 'integer',
      staff_id: 'integer',
      counterparty_id: 'integer',
      units_sold: 'integer',
      unit_price: 'numeric(10,2)',
      currency_id: 'integer',
      agreed_delivery_date: 'text',
      agreed_payment_date: 'text',
      agreed_delivery_location_id: 'integer',
      ...stamps,
    },
    references: {
      design_id: 'design',
      staff_id: 'staff',
      counterparty_id: 'counterparty',
      currency_id: 'currency',
      agreed_delivery_location_id: 'address',
    },
  },
  staff: {
    name: 'staff',
    primaryKey: 'staff_id',
    columns: {
      staff_id: 'integer',
      first_name: 'text',
      last_name: 'text',
      department_id: 'integer',
      email_address: 'text',
      ...stamps,
    },
    references: { department_id: 'department' },
  },
  transaction: {
    name: 'transaction',
    primaryKey: 'transaction_id',
    columns: {
      transaction_id: 'integer',
      transaction_type: '"TransactionType"',
      sales_order_id: 'integer',
      purchase_order_id: 'integer',
      ...stamps,
    },
    nullable: ['sales_order_id', 'purchase_order_id'],
    orderReferences: { sales_order_id: 'sales_order', purchase_order_id: 'purchase_order' },
  },
};

/**
 * The tables in an order that inserts safely, with the foreign keys in place: every table after
 * the tables it references; of the tables that could come next, the first in TOTESYS_TABLE_NAMES.
 * Derived from the references, so that a table or a reference added above orders itself.
 */
export const TOTESYS_INSERT_ORDER: readonly TotesysTableName[] = insertOrder();

function insertOrder(): TotesysTableName[] {
  const referenced = (name: TotesysTableName) => Object.values({ ...TOTESYS_TABLES[name].references, ...TOTESYS_TABLES[name].orderReferences });
  const { order, circle } = dependencyOrder(TOTESYS_TABLE_NAMES, (name) => name, referenced);
  if (circle.length > 0) throw new Error(`The ToteSys tables' references go round in a circle: ${circle.join(', ')}`);
  return order;
}
