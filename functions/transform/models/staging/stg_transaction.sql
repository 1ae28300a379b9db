-- stg_transaction: the batch's transaction rows, one per line of its JSONL, checked, then cast to
-- their ToteSys types. Written by `npm run staging-models` from functions/shared/totesys-tables.ts:
-- change that, then run it (a test fails while this file differs).
--
-- Every value is read as text and checked by its type's rule (macros/row_rules.sql) before it is
-- cast. _problem is the row's first broken rule, in column order; the driver stages the rows
-- without one and holds the others in quarantine (or, strict, fails the batch). try_cast only
-- ever casts a checked value in a staged row. _line is the row's line when the driver reads a
-- numbered copy of the JSONL to name a bad row's line; null otherwise.
with

source_rows as (
    select * from read_json(
        getvariable('staging_jsonl'),
        format = 'newline_delimited',
        compression = 'gzip',
        columns = {
            _line: 'BIGINT',
            transaction_id: 'VARCHAR',
            transaction_type: 'VARCHAR',
            sales_order_id: 'VARCHAR',
            purchase_order_id: 'VARCHAR',
            created_at: 'VARCHAR',
            last_updated: 'VARCHAR'
        }
    )
),

checked_rows as (
    select
        *,
        coalesce(
            not_null('transaction_id', transaction_id),
            integer_value('transaction_id', transaction_id),
            not_null('transaction_type', transaction_type),
            accepted_values('transaction_type', transaction_type, ['SALE', 'PURCHASE']),
            integer_value('sales_order_id', sales_order_id),
            integer_value('purchase_order_id', purchase_order_id),
            not_null('created_at', created_at),
            timestamp_value('created_at', created_at),
            accepted_day('created_at', created_at),
            not_null('last_updated', last_updated),
            timestamp_value('last_updated', last_updated),
            accepted_day('last_updated', last_updated)
        ) as _problem
    from source_rows
),

final as (
    select
        _line,
        _problem,
        try_cast(transaction_id as INTEGER)       as transaction_id,
        transaction_type,
        try_cast(sales_order_id as INTEGER)       as sales_order_id,
        try_cast(purchase_order_id as INTEGER)    as purchase_order_id,
        try_cast(created_at as TIMESTAMP)         as created_at,
        try_cast(last_updated as TIMESTAMP)       as last_updated
    from checked_rows
)

select * from final
