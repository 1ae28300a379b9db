-- Versions by content (docs/trust.md): a fact's version is a distinct content of its source row,
-- so two versions may share a last_updated. The unique key on (source key, last_updated) goes;
-- "latest" is the highest record id of a key, served by an index.
DO $$
DECLARE
  key record;
BEGIN
  FOR key IN
    SELECT conrelid::regclass::text AS table_name, conname
    FROM pg_constraint
    WHERE contype = 'u'
      AND conrelid IN (to_regclass('fact_sales_order'), to_regclass('fact_purchase_order'), to_regclass('fact_payment'))
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', key.table_name, key.conname);
  END LOOP;
END
$$;

CREATE INDEX fact_sales_order_versions ON fact_sales_order (sales_order_id, sales_record_id DESC);
CREATE INDEX fact_purchase_order_versions ON fact_purchase_order (purchase_order_id, purchase_record_id DESC);
CREATE INDEX fact_payment_versions ON fact_payment (payment_id, payment_record_id DESC);

-- Every deletion of a ToteSys row that a batch saw. For a fact source, last_record_id is the
-- version that was current then: a later version (the key inserted again) is current again.
CREATE TABLE source_row_deletions (
  source_table    varchar NOT NULL,
  source_key      int NOT NULL,
  batch_id        char(10) NOT NULL,
  deleted_seen_at timestamptz NOT NULL,
  last_record_id  int,
  PRIMARY KEY (source_table, source_key, batch_id),
  CHECK (source_table IN ('address', 'counterparty', 'currency', 'department', 'design', 'payment', 'payment_type',
                          'purchase_order', 'sales_order', 'staff', 'transaction'))
);

CREATE VIEW current_sales_order AS
SELECT latest.sales_record_id, latest.sales_order_id, latest.created_date, latest.created_time,
       latest.last_updated_date, latest.last_updated_time, latest.sales_staff_id, latest.counterparty_id,
       latest.units_sold, latest.unit_price, latest.currency_id, latest.design_id,
       latest.agreed_payment_date, latest.agreed_delivery_date, latest.agreed_delivery_location_id
FROM (
  SELECT DISTINCT ON (sales_order_id) * FROM fact_sales_order ORDER BY sales_order_id, sales_record_id DESC
) latest
WHERE NOT EXISTS (
  SELECT 1 FROM source_row_deletions d
  WHERE d.source_table = 'sales_order' AND d.source_key = latest.sales_order_id AND d.last_record_id >= latest.sales_record_id
);

CREATE VIEW current_purchase_order AS
SELECT latest.purchase_record_id, latest.purchase_order_id, latest.created_date, latest.created_time,
       latest.last_updated_date, latest.last_updated_time, latest.staff_id, latest.counterparty_id,
       latest.item_code, latest.item_quantity, latest.item_unit_price, latest.currency_id,
       latest.agreed_delivery_date, latest.agreed_payment_date, latest.agreed_delivery_location_id
FROM (
  SELECT DISTINCT ON (purchase_order_id) * FROM fact_purchase_order ORDER BY purchase_order_id, purchase_record_id DESC
) latest
WHERE NOT EXISTS (
  SELECT 1 FROM source_row_deletions d
  WHERE d.source_table = 'purchase_order' AND d.source_key = latest.purchase_order_id AND d.last_record_id >= latest.purchase_record_id
);

CREATE VIEW current_payment AS
SELECT latest.payment_record_id, latest.payment_id, latest.created_date, latest.created_time,
       latest.last_updated_date, latest.last_updated_time, latest.transaction_id, latest.counterparty_id,
       latest.payment_amount, latest.currency_id, latest.payment_type_id, latest.paid, latest.payment_date
FROM (
  SELECT DISTINCT ON (payment_id) * FROM fact_payment ORDER BY payment_id, payment_record_id DESC
) latest
WHERE NOT EXISTS (
  SELECT 1 FROM source_row_deletions d
  WHERE d.source_table = 'payment' AND d.source_key = latest.payment_id AND d.last_record_id >= latest.payment_record_id
);

-- The pipeline's own bookkeeping lives apart from the star schemas, in schema pipeline (created,
-- when missing, by the migration runner before any migration).
ALTER TABLE pipeline_load_ledger SET SCHEMA pipeline;
ALTER TABLE pipeline.pipeline_load_ledger RENAME TO load_ledger;

-- Which lake the warehouse was loaded from: one row per lake; batches name theirs in the ledger.
CREATE TABLE pipeline.lakes (
  lake_id        text PRIMARY KEY,
  source         text NOT NULL,
  ingestion      text NOT NULL,
  processed      text NOT NULL,
  first_batch_id char(10) NOT NULL,
  attached_at    timestamptz NOT NULL DEFAULT now()
);

-- Null for batches loaded before lineage was recorded.
ALTER TABLE pipeline.load_ledger ADD COLUMN lake_id text REFERENCES pipeline.lakes (lake_id);
