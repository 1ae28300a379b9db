-- stg_payment: the batch's payment rows, one per line of its JSONL, checked, then cast to
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
            payment_id: 'VARCHAR',
            transaction_id: 'VARCHAR',
            counterparty_id: 'VARCHAR',
            payment_amount: 'VARCHAR',
            currency_id: 'VARCHAR',
            payment_type_id: 'VARCHAR',
            paid: 'VARCHAR',
            payment_date: 'VARCHAR',
            company_ac_number: 'VARCHAR',
            counterparty_ac_number: 'VARCHAR',
            created_at: 'VARCHAR',
            last_updated: 'VARCHAR'
        }
    )
),

checked_rows as (
    select
        *,
        coalesce(
            not_null('payment_id', payment_id),
            integer_value('payment_id', payment_id),
            not_null('transaction_id', transaction_id),
            integer_value('transaction_id', transaction_id),
            not_null('counterparty_id', counterparty_id),
            integer_value('counterparty_id', counterparty_id),
            not_null('payment_amount', payment_amount),
            decimal_10_2_value('payment_amount', payment_amount),
            not_null('currency_id', currency_id),
            integer_value('currency_id', currency_id),
            not_null('payment_type_id', payment_type_id),
            integer_value('payment_type_id', payment_type_id),
            not_null('paid', paid),
            boolean_value('paid', paid),
            not_null('payment_date', payment_date),
            date_text('payment_date', payment_date),
            accepted_day('payment_date', payment_date),
            not_null('company_ac_number', company_ac_number),
            integer_value('company_ac_number', company_ac_number),
            not_null('counterparty_ac_number', counterparty_ac_number),
            integer_value('counterparty_ac_number', counterparty_ac_number),
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
        try_cast(payment_id as INTEGER)                as payment_id,
        try_cast(transaction_id as INTEGER)            as transaction_id,
        try_cast(counterparty_id as INTEGER)           as counterparty_id,
        try_cast(payment_amount as DECIMAL(10,2))      as payment_amount,
        try_cast(currency_id as INTEGER)               as currency_id,
        try_cast(payment_type_id as INTEGER)           as payment_type_id,
        try_cast(paid as BOOLEAN)                      as paid,
        payment_date,
        try_cast(company_ac_number as INTEGER)         as company_ac_number,
        try_cast(counterparty_ac_number as INTEGER)    as counterparty_ac_number,
        try_cast(created_at as TIMESTAMP)              as created_at,
        try_cast(last_updated as TIMESTAMP)            as last_updated
    from checked_rows
)

select * from final
