-- stg_sales_order: the batch's sales_order rows, one per line of its JSONL, checked, then cast to
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
            sales_order_id: 'VARCHAR',
            design_id: 'VARCHAR',
            staff_id: 'VARCHAR',
            counterparty_id: 'VARCHAR',
            units_sold: 'VARCHAR',
            unit_price: 'VARCHAR',
            currency_id: 'VARCHAR',
            agreed_delivery_date: 'VARCHAR',
            agreed_payment_date: 'VARCHAR',
            agreed_delivery_location_id: 'VARCHAR',
            created_at: 'VARCHAR',
            last_updated: 'VARCHAR'
        }
    )
),

checked_rows as (
    select
        *,
        coalesce(
            not_null('sales_order_id', sales_order_id),
            integer_value('sales_order_id', sales_order_id),
            not_null('design_id', design_id),
            integer_value('design_id', design_id),
            not_null('staff_id', staff_id),
            integer_value('staff_id', staff_id),
            not_null('counterparty_id', counterparty_id),
            integer_value('counterparty_id', counterparty_id),
            not_null('units_sold', units_sold),
            integer_value('units_sold', units_sold),
            not_null('unit_price', unit_price),
            decimal_10_2_value('unit_price', unit_price),
            not_null('currency_id', currency_id),
            integer_value('currency_id', currency_id),
            not_null('agreed_delivery_date', agreed_delivery_date),
            date_text('agreed_delivery_date', agreed_delivery_date),
            accepted_day('agreed_delivery_date', agreed_delivery_date),
            not_null('agreed_payment_date', agreed_payment_date),
            date_text('agreed_payment_date', agreed_payment_date),
            accepted_day('agreed_payment_date', agreed_payment_date),
            not_null('agreed_delivery_location_id', agreed_delivery_location_id),
            integer_value('agreed_delivery_location_id', agreed_delivery_location_id),
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
        try_cast(sales_order_id as INTEGER)                 as sales_order_id,
        try_cast(design_id as INTEGER)                      as design_id,
        try_cast(staff_id as INTEGER)                       as staff_id,
        try_cast(counterparty_id as INTEGER)                as counterparty_id,
        try_cast(units_sold as INTEGER)                     as units_sold,
        try_cast(unit_price as DECIMAL(10,2))               as unit_price,
        try_cast(currency_id as INTEGER)                    as currency_id,
        agreed_delivery_date,
        agreed_payment_date,
        try_cast(agreed_delivery_location_id as INTEGER)    as agreed_delivery_location_id,
        try_cast(created_at as TIMESTAMP)                   as created_at,
        try_cast(last_updated as TIMESTAMP)                 as last_updated
    from checked_rows
)

select * from final
