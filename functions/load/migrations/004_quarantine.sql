-- The rows Transform holds in quarantine as of the last loaded batch (docs/quarantine.md): replaced
-- by each batch's load, in its transaction, so it always matches the warehouse's data.
CREATE TABLE pipeline.quarantined_rows (
  source_table  text NOT NULL CHECK (source_table IN ('address', 'counterparty', 'currency', 'department', 'design', 'payment', 'payment_type',
                                                      'purchase_order', 'sales_order', 'staff', 'transaction')),
  source_key    text,
  field         text,
  reason        text NOT NULL,
  batch_id      text NOT NULL,
  object        text NOT NULL,
  line          integer NOT NULL,
  original_line text NOT NULL,
  held_since    text NOT NULL,
  last_tried    text NOT NULL
);

COMMENT ON TABLE pipeline.quarantined_rows IS
  'The ToteSys rows held in quarantine as of the last loaded batch: each failed a check (a malformed value, a day outside the accepted range, a reference to a row no batch has delivered), so the warehouse holds its key''s previous version, or none. Every batch retries them; replaced by each load. npm run quarantine lists them.';
COMMENT ON COLUMN pipeline.quarantined_rows.source_table IS 'The ToteSys table of the held row.';
COMMENT ON COLUMN pipeline.quarantined_rows.source_key IS 'The held row''s primary key, as its line gives it; null when the line has no readable key.';
COMMENT ON COLUMN pipeline.quarantined_rows.field IS 'The field that failed its check; null when the line itself cannot be read.';
COMMENT ON COLUMN pipeline.quarantined_rows.reason IS 'Why the row is held, as the latest retry found it (''"2022-02-30" is not a date (YYYY-MM-DD)'', ''references staff_id=999, which no batch has delivered to staff'').';
COMMENT ON COLUMN pipeline.quarantined_rows.batch_id IS 'The batch whose extract delivered the held line.';
COMMENT ON COLUMN pipeline.quarantined_rows.object IS 'The ingestion object holding the line, s3://<bucket>/<key>.';
COMMENT ON COLUMN pipeline.quarantined_rows.line IS 'The line''s 1-based number in that object.';
COMMENT ON COLUMN pipeline.quarantined_rows.original_line IS 'The line as extracted (JSON), exactly as Transform read it.';
COMMENT ON COLUMN pipeline.quarantined_rows.held_since IS 'The batch that first held the row.';
COMMENT ON COLUMN pipeline.quarantined_rows.last_tried IS 'The latest batch that retried the row.';
