-- What every table, view and column holds, for a BI tool's catalogue and `\d+`: where it comes
-- from in ToteSys and the rule that made it (the warehouse contract and docs/trust.md). A column
-- added later gets its COMMENT in the same migration (a test fails until it does).

-- ---------------------------------------------------------------------------------------------
-- Sales: fact_sales_order
-- ---------------------------------------------------------------------------------------------
COMMENT ON TABLE fact_sales_order IS
  'Sales star schema fact: one row per version of a ToteSys sales_order row. Facts keep every version: a new row is added whenever the content of the sales order changes (any column below but sales_record_id, whether or not last_updated changed); the same content extracted twice is stored once. The latest version of an order is the one with the highest sales_record_id; current_sales_order holds it for every order that exists in ToteSys now.';
COMMENT ON COLUMN fact_sales_order.sales_record_id IS
  'Surrogate key of this version, assigned by the warehouse from one sequence in load order: the highest sales_record_id of a sales_order_id is its latest version (also when two versions share a last_updated).';
COMMENT ON COLUMN fact_sales_order.sales_order_id IS
  'ToteSys sales_order.sales_order_id: the sales order this row is a version of (many rows per order).';
COMMENT ON COLUMN fact_sales_order.created_date IS
  'Date part of ToteSys sales_order.created_at (the application''s clock, UTC, no time zone). References dim_date.';
COMMENT ON COLUMN fact_sales_order.created_time IS
  'Time part of ToteSys sales_order.created_at, milliseconds kept.';
COMMENT ON COLUMN fact_sales_order.last_updated_date IS
  'Date part of ToteSys sales_order.last_updated of this version (the application''s clock, UTC, no time zone). References dim_date.';
COMMENT ON COLUMN fact_sales_order.last_updated_time IS
  'Time part of ToteSys sales_order.last_updated of this version, milliseconds kept.';
COMMENT ON COLUMN fact_sales_order.sales_staff_id IS
  'ToteSys sales_order.staff_id, renamed: the member of staff who made the sale. References dim_staff.';
COMMENT ON COLUMN fact_sales_order.counterparty_id IS
  'ToteSys sales_order.counterparty_id: the customer. References dim_counterparty.';
COMMENT ON COLUMN fact_sales_order.units_sold IS
  'ToteSys sales_order.units_sold.';
COMMENT ON COLUMN fact_sales_order.unit_price IS
  'ToteSys sales_order.unit_price, exact (numeric(10,2)), in the currency currency_id.';
COMMENT ON COLUMN fact_sales_order.currency_id IS
  'ToteSys sales_order.currency_id: the currency of unit_price. References dim_currency.';
COMMENT ON COLUMN fact_sales_order.design_id IS
  'ToteSys sales_order.design_id: the design sold. References dim_design.';
COMMENT ON COLUMN fact_sales_order.agreed_payment_date IS
  'ToteSys sales_order.agreed_payment_date, source text ''YYYY-MM-DD'' made a date. References dim_date.';
COMMENT ON COLUMN fact_sales_order.agreed_delivery_date IS
  'ToteSys sales_order.agreed_delivery_date, source text ''YYYY-MM-DD'' made a date. References dim_date.';
COMMENT ON COLUMN fact_sales_order.agreed_delivery_location_id IS
  'ToteSys sales_order.agreed_delivery_location_id, an address_id: where the order is delivered. References dim_location.';

-- ---------------------------------------------------------------------------------------------
-- Purchases: fact_purchase_order
-- ---------------------------------------------------------------------------------------------
COMMENT ON TABLE fact_purchase_order IS
  'Purchases star schema fact: one row per version of a ToteSys purchase_order row. Facts keep every version: a new row is added whenever the content of the purchase order changes (any column below but purchase_record_id, whether or not last_updated changed); the same content extracted twice is stored once. The latest version of an order is the one with the highest purchase_record_id; current_purchase_order holds it for every order that exists in ToteSys now.';
COMMENT ON COLUMN fact_purchase_order.purchase_record_id IS
  'Surrogate key of this version, assigned by the warehouse from one sequence in load order: the highest purchase_record_id of a purchase_order_id is its latest version (also when two versions share a last_updated).';
COMMENT ON COLUMN fact_purchase_order.purchase_order_id IS
  'ToteSys purchase_order.purchase_order_id: the purchase order this row is a version of (many rows per order).';
COMMENT ON COLUMN fact_purchase_order.created_date IS
  'Date part of ToteSys purchase_order.created_at (the application''s clock, UTC, no time zone). References dim_date.';
COMMENT ON COLUMN fact_purchase_order.created_time IS
  'Time part of ToteSys purchase_order.created_at, milliseconds kept.';
COMMENT ON COLUMN fact_purchase_order.last_updated_date IS
  'Date part of ToteSys purchase_order.last_updated of this version (the application''s clock, UTC, no time zone). References dim_date.';
COMMENT ON COLUMN fact_purchase_order.last_updated_time IS
  'Time part of ToteSys purchase_order.last_updated of this version, milliseconds kept.';
COMMENT ON COLUMN fact_purchase_order.staff_id IS
  'ToteSys purchase_order.staff_id: the member of staff who placed the order. References dim_staff.';
COMMENT ON COLUMN fact_purchase_order.counterparty_id IS
  'ToteSys purchase_order.counterparty_id: the supplier. References dim_counterparty.';
COMMENT ON COLUMN fact_purchase_order.item_code IS
  'ToteSys purchase_order.item_code: the item bought.';
COMMENT ON COLUMN fact_purchase_order.item_quantity IS
  'ToteSys purchase_order.item_quantity.';
COMMENT ON COLUMN fact_purchase_order.item_unit_price IS
  'ToteSys purchase_order.item_unit_price, exact (numeric(10,2)), in the currency currency_id.';
COMMENT ON COLUMN fact_purchase_order.currency_id IS
  'ToteSys purchase_order.currency_id: the currency of item_unit_price. References dim_currency.';
COMMENT ON COLUMN fact_purchase_order.agreed_delivery_date IS
  'ToteSys purchase_order.agreed_delivery_date, source text ''YYYY-MM-DD'' made a date. References dim_date.';
COMMENT ON COLUMN fact_purchase_order.agreed_payment_date IS
  'ToteSys purchase_order.agreed_payment_date, source text ''YYYY-MM-DD'' made a date. References dim_date.';
COMMENT ON COLUMN fact_purchase_order.agreed_delivery_location_id IS
  'ToteSys purchase_order.agreed_delivery_location_id, an address_id: where the goods are delivered. References dim_location.';

-- ---------------------------------------------------------------------------------------------
-- Payments: fact_payment
-- ---------------------------------------------------------------------------------------------
COMMENT ON TABLE fact_payment IS
  'Payments star schema fact: one row per version of a ToteSys payment row. Facts keep every version: a new row is added whenever the content of the payment changes (any column below but payment_record_id, whether or not last_updated changed); the same content extracted twice is stored once. The latest version of a payment is the one with the highest payment_record_id; current_payment holds it for every payment that exists in ToteSys now. The source account numbers (company_ac_number, counterparty_ac_number) are dropped on purpose.';
COMMENT ON COLUMN fact_payment.payment_record_id IS
  'Surrogate key of this version, assigned by the warehouse from one sequence in load order: the highest payment_record_id of a payment_id is its latest version (also when two versions share a last_updated).';
COMMENT ON COLUMN fact_payment.payment_id IS
  'ToteSys payment.payment_id: the payment this row is a version of (many rows per payment).';
COMMENT ON COLUMN fact_payment.created_date IS
  'Date part of ToteSys payment.created_at (the application''s clock, UTC, no time zone). References dim_date.';
COMMENT ON COLUMN fact_payment.created_time IS
  'Time part of ToteSys payment.created_at, milliseconds kept.';
COMMENT ON COLUMN fact_payment.last_updated_date IS
  'Date part of ToteSys payment.last_updated of this version (the application''s clock, UTC, no time zone). References dim_date.';
COMMENT ON COLUMN fact_payment.last_updated_time IS
  'Time part of ToteSys payment.last_updated of this version, milliseconds kept.';
COMMENT ON COLUMN fact_payment.transaction_id IS
  'ToteSys payment.transaction_id: the sale or purchase transaction paid. References dim_transaction.';
COMMENT ON COLUMN fact_payment.counterparty_id IS
  'ToteSys payment.counterparty_id: who pays or is paid. References dim_counterparty.';
COMMENT ON COLUMN fact_payment.payment_amount IS
  'ToteSys payment.payment_amount, exact (numeric(10,2)), in the currency currency_id.';
COMMENT ON COLUMN fact_payment.currency_id IS
  'ToteSys payment.currency_id: the currency of payment_amount. References dim_currency.';
COMMENT ON COLUMN fact_payment.payment_type_id IS
  'ToteSys payment.payment_type_id: sales receipt, sales refund, purchase payment or purchase refund. References dim_payment_type.';
COMMENT ON COLUMN fact_payment.paid IS
  'ToteSys payment.paid: true once the payment has been made.';
COMMENT ON COLUMN fact_payment.payment_date IS
  'ToteSys payment.payment_date, source text ''YYYY-MM-DD'' made a date. References dim_date.';

-- ---------------------------------------------------------------------------------------------
-- Dimensions (type 1: the latest values, upserted on the natural key)
-- ---------------------------------------------------------------------------------------------
COMMENT ON TABLE dim_date IS
  'Calendar dimension: one row per day, every day from the earliest to the latest date that any fact references, none missing (built by the pipeline, not from a ToteSys table).';
COMMENT ON COLUMN dim_date.date_id IS
  'The day; every date column of every fact references it.';
COMMENT ON COLUMN dim_date.year IS
  'Calendar year of date_id.';
COMMENT ON COLUMN dim_date.month IS
  'Month of date_id, 1 (January) to 12 (December).';
COMMENT ON COLUMN dim_date.day IS
  'Day of the month of date_id, 1 to 31.';
COMMENT ON COLUMN dim_date.day_of_week IS
  'ISO day of the week: Monday 1 ... Sunday 7.';
COMMENT ON COLUMN dim_date.day_name IS
  'English day name, capitalised: ''Monday'' ... ''Sunday''.';
COMMENT ON COLUMN dim_date.month_name IS
  'English month name, capitalised: ''January'' ... ''December''.';
COMMENT ON COLUMN dim_date.quarter IS
  'Calendar quarter, 1 to 4 (January to March is 1).';

COMMENT ON TABLE dim_staff IS
  'Staff dimension: one row per ToteSys staff row, joined to its department. Type 1 (latest values): rebuilt whenever the staff row or its department changes (a department rename changes every member of staff in it). A staff row deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. The department''s manager and the source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_staff.staff_id IS
  'ToteSys staff.staff_id (natural key); fact_sales_order.sales_staff_id and fact_purchase_order.staff_id reference it.';
COMMENT ON COLUMN dim_staff.first_name IS
  'ToteSys staff.first_name.';
COMMENT ON COLUMN dim_staff.last_name IS
  'ToteSys staff.last_name.';
COMMENT ON COLUMN dim_staff.department_name IS
  'ToteSys department.department_name of the staff row''s department_id.';
COMMENT ON COLUMN dim_staff.location IS
  'ToteSys department.location of the staff row''s department_id; null where the department''s is.';
COMMENT ON COLUMN dim_staff.email_address IS
  'ToteSys staff.email_address.';

COMMENT ON TABLE dim_location IS
  'Location dimension: one row per ToteSys address row (address_id becomes location_id). Type 1 (latest values): rebuilt whenever the address changes. An address deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. The source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_location.location_id IS
  'ToteSys address.address_id (natural key); the facts'' agreed_delivery_location_id references it.';
COMMENT ON COLUMN dim_location.address_line_1 IS
  'ToteSys address.address_line_1.';
COMMENT ON COLUMN dim_location.address_line_2 IS
  'ToteSys address.address_line_2; null where the source''s is.';
COMMENT ON COLUMN dim_location.district IS
  'ToteSys address.district; null where the source''s is.';
COMMENT ON COLUMN dim_location.city IS
  'ToteSys address.city.';
COMMENT ON COLUMN dim_location.postal_code IS
  'ToteSys address.postal_code.';
COMMENT ON COLUMN dim_location.country IS
  'ToteSys address.country.';
COMMENT ON COLUMN dim_location.phone IS
  'ToteSys address.phone.';

COMMENT ON TABLE dim_currency IS
  'Currency dimension: one row per ToteSys currency row. Type 1 (latest values). A currency deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. The source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_currency.currency_id IS
  'ToteSys currency.currency_id (natural key); the facts'' currency_id references it.';
COMMENT ON COLUMN dim_currency.currency_code IS
  'ToteSys currency.currency_code: the ISO 4217 code (GBP, USD, EUR ...).';
COMMENT ON COLUMN dim_currency.currency_name IS
  'English name of currency_code from the platform''s ICU internationalisation data (Intl.DisplayNames): GBP is ''British Pound'', USD ''US Dollar'', EUR ''Euro''. A code ICU does not know keeps the code as its name (with a warning in the Transform log). Not a ToteSys column.';

COMMENT ON TABLE dim_design IS
  'Design dimension: one row per ToteSys design row. Type 1 (latest values). A design deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. The source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_design.design_id IS
  'ToteSys design.design_id (natural key); fact_sales_order.design_id references it.';
COMMENT ON COLUMN dim_design.design_name IS
  'ToteSys design.design_name.';
COMMENT ON COLUMN dim_design.file_location IS
  'ToteSys design.file_location: the folder of the design''s file.';
COMMENT ON COLUMN dim_design.file_name IS
  'ToteSys design.file_name.';

COMMENT ON TABLE dim_counterparty IS
  'Counterparty dimension (customers and suppliers): one row per ToteSys counterparty row, joined to address on legal_address_id, the address columns prefixed counterparty_legal_. Type 1 (latest values): rebuilt whenever the counterparty or its legal address changes (an address change changes every counterparty whose legal address it is). A counterparty deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. commercial_contact, delivery_contact and the source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_counterparty.counterparty_id IS
  'ToteSys counterparty.counterparty_id (natural key); the facts'' counterparty_id references it.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_name IS
  'ToteSys counterparty.counterparty_legal_name.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_address_line_1 IS
  'ToteSys address.address_line_1 of the counterparty''s legal_address_id.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_address_line_2 IS
  'ToteSys address.address_line_2 of the counterparty''s legal_address_id; null where the address''s is.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_district IS
  'ToteSys address.district of the counterparty''s legal_address_id; null where the address''s is.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_city IS
  'ToteSys address.city of the counterparty''s legal_address_id.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_postal_code IS
  'ToteSys address.postal_code of the counterparty''s legal_address_id.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_country IS
  'ToteSys address.country of the counterparty''s legal_address_id.';
COMMENT ON COLUMN dim_counterparty.counterparty_legal_phone_number IS
  'ToteSys address.phone of the counterparty''s legal_address_id.';

COMMENT ON TABLE dim_transaction IS
  'Transaction dimension: one row per ToteSys transaction row, a sale or a purchase that payments pay. Type 1 (latest values). A transaction deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. The source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_transaction.transaction_id IS
  'ToteSys transaction.transaction_id (natural key); fact_payment.transaction_id references it.';
COMMENT ON COLUMN dim_transaction.transaction_type IS
  'ToteSys transaction.transaction_type: ''SALE'' or ''PURCHASE''.';
COMMENT ON COLUMN dim_transaction.sales_order_id IS
  'ToteSys transaction.sales_order_id: the sales order of a SALE (fact_sales_order.sales_order_id, not a foreign key); null otherwise.';
COMMENT ON COLUMN dim_transaction.purchase_order_id IS
  'ToteSys transaction.purchase_order_id: the purchase order of a PURCHASE (fact_purchase_order.purchase_order_id, not a foreign key); null otherwise.';

COMMENT ON TABLE dim_payment_type IS
  'Payment type dimension: one row per ToteSys payment_type row. Type 1 (latest values). A payment type deleted from ToteSys stays here (old facts reference it); its deletion is in source_row_deletions. The source created_at/last_updated are dropped on purpose.';
COMMENT ON COLUMN dim_payment_type.payment_type_id IS
  'ToteSys payment_type.payment_type_id (natural key); fact_payment.payment_type_id references it.';
COMMENT ON COLUMN dim_payment_type.payment_type_name IS
  'ToteSys payment_type.payment_type_name: ''SALES_RECEIPT'', ''SALES_REFUND'', ''PURCHASE_PAYMENT'' or ''PURCHASE_REFUND''.';

-- ---------------------------------------------------------------------------------------------
-- Deletions and current state
-- ---------------------------------------------------------------------------------------------
COMMENT ON TABLE source_row_deletions IS
  'Every deletion of a ToteSys row that the pipeline has seen: one row per source row and batch whose snapshot found it gone (a key deleted, inserted again and deleted again has two rows). Fact history and dimension rows stay; a deleted fact source row leaves its current_* view.';
COMMENT ON COLUMN source_row_deletions.source_table IS
  'The ToteSys table the row was deleted from (sales_order, purchase_order, payment for the facts; address, counterparty, currency, department, design, payment_type, staff, transaction for the dimensions).';
COMMENT ON COLUMN source_row_deletions.source_key IS
  'The primary key of the deleted row in source_table (sales_order_id, address_id ...).';
COMMENT ON COLUMN source_row_deletions.batch_id IS
  'The batch (ten digits, as in pipeline.load_ledger) whose extract first found the row gone.';
COMMENT ON COLUMN source_row_deletions.deleted_seen_at IS
  'When the pipeline saw the deletion (the extract of batch_id); the row was deleted from ToteSys at some time between the previous batch''s snapshot and this one.';
COMMENT ON COLUMN source_row_deletions.last_record_id IS
  'For a fact source: the record id (sales_record_id, purchase_record_id or payment_record_id) of the version that was current when the deletion was seen. A version with a higher record id (the key inserted again later) is current again. Null for a dimension source, or for a fact row never loaded.';

COMMENT ON VIEW current_sales_order IS
  'Current state of Sales: one row per sales order that exists in ToteSys now, its latest version (highest sales_record_id) in fact_sales_order, with exactly that table''s columns. A sales order deleted from ToteSys is absent (see source_row_deletions) unless a later version was loaded after the deletion.';
COMMENT ON VIEW current_purchase_order IS
  'Current state of Purchases: one row per purchase order that exists in ToteSys now, its latest version (highest purchase_record_id) in fact_purchase_order, with exactly that table''s columns. A purchase order deleted from ToteSys is absent (see source_row_deletions) unless a later version was loaded after the deletion.';
COMMENT ON VIEW current_payment IS
  'Current state of Payments: one row per payment that exists in ToteSys now, its latest version (highest payment_record_id) in fact_payment, with exactly that table''s columns. A payment deleted from ToteSys is absent (see source_row_deletions) unless a later version was loaded after the deletion.';

-- The views' columns are the facts' columns: their comments are copied, so the two never differ.
DO $$
DECLARE
  pair record;
  col record;
BEGIN
  FOR pair IN
    SELECT * FROM (VALUES ('fact_sales_order', 'current_sales_order'),
                          ('fact_purchase_order', 'current_purchase_order'),
                          ('fact_payment', 'current_payment')) AS p (fact, current_view)
  LOOP
    FOR col IN
      SELECT a.attname, col_description(a.attrelid, a.attnum) AS description
      FROM pg_attribute a
      WHERE a.attrelid = to_regclass(pair.fact) AND a.attnum > 0 AND NOT a.attisdropped
    LOOP
      EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', to_regclass(pair.current_view), col.attname,
                     'Latest version''s ' || pair.fact || '.' || col.attname || ': ' || col.description);
    END LOOP;
  END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Schema pipeline: the pipeline's own bookkeeping
-- ---------------------------------------------------------------------------------------------
COMMENT ON SCHEMA pipeline IS
  'The ToteSys pipeline''s own bookkeeping (migrations applied, batches loaded, the lake loaded from), apart from the star schemas. Written by Load; not for analysis.';

COMMENT ON TABLE pipeline.schema_migrations IS
  'One row per warehouse migration applied (functions/load/migrations/NNN_name.sql), each exactly once, in order, by Load.';
COMMENT ON COLUMN pipeline.schema_migrations.version IS
  'The migration''s number, NNN of its file name.';
COMMENT ON COLUMN pipeline.schema_migrations.name IS
  'The migration''s name, the rest of its file name.';
COMMENT ON COLUMN pipeline.schema_migrations.applied_at IS
  'When the migration was applied.';

COMMENT ON TABLE pipeline.load_ledger IS
  'One row per processed batch loaded into the warehouse, written in the batch''s own transaction: a batch is loaded exactly when its row is here, and is never applied again.';
COMMENT ON COLUMN pipeline.load_ledger.batch_id IS
  'The batch, ten digits (0000000001 is the first extract); batches load one at a time, in order.';
COMMENT ON COLUMN pipeline.load_ledger.processed_manifest_key IS
  'The key, in the processed bucket, of the batch''s processed manifest that was loaded.';
COMMENT ON COLUMN pipeline.load_ledger.rows IS
  'Rows written by this batch per warehouse table, and the deletions it recorded (source_row_deletions), as JSON ({"fact_sales_order": 12, ...}); a version or dimension row already stored is not counted.';
COMMENT ON COLUMN pipeline.load_ledger.newest_change IS
  'The newest last_updated (ToteSys application clock, UTC) among the batch''s fact versions; null when the batch had none. Against loaded_at it gives the warehouse''s freshness.';
COMMENT ON COLUMN pipeline.load_ledger.loaded_at IS
  'When the batch was loaded (its transaction''s start).';
COMMENT ON COLUMN pipeline.load_ledger.lake_id IS
  'The lake the batch came from (pipeline.lakes.lake_id); null for batches loaded before lakes were recorded.';

COMMENT ON TABLE pipeline.lakes IS
  'One row per lake (the ingestion and processed buckets extracted from one ToteSys) the warehouse has been loaded from: recorded by the first load of the lake. Load refuses a batch of another lake, or a lake with fewer batches than the warehouse has loaded; npm run rebuild-warehouse empties it with the star schemas.';
COMMENT ON COLUMN pipeline.lakes.lake_id IS
  'The lake''s id, born with its first extract (lake/identity.json in the ingestion bucket) and carried by every manifest.';
COMMENT ON COLUMN pipeline.lakes.source IS
  'The ToteSys database the lake is extracted from, as people read it: ''database totesys (oid ..., cluster ...)''. Extract refuses a ToteSys whose identity differs.';
COMMENT ON COLUMN pipeline.lakes.ingestion IS
  'The lake''s ingestion bucket, s3://<bucket>.';
COMMENT ON COLUMN pipeline.lakes.processed IS
  'The processed bucket Load read the lake from, s3://<bucket>.';
COMMENT ON COLUMN pipeline.lakes.first_batch_id IS
  'The first batch of this lake loaded into the warehouse.';
COMMENT ON COLUMN pipeline.lakes.attached_at IS
  'When the warehouse was first loaded from this lake.';
