-- stg_currency: the batch's currency rows, one per line of its JSONL, checked, then cast to
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
            currency_id: 'VARCHAR',
            currency_code: 'VARCHAR',
            created_at: 'VARCHAR',
            last_updated: 'VARCHAR'
        }
    )
),

checked_rows as (
    select
        *,
        coalesce(
            not_null('currency_id', currency_id),
            integer_value('currency_id', currency_id),
            not_null('currency_code', currency_code),
            max_length('currency_code', currency_code, 3),
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
        try_cast(currency_id as INTEGER)       as currency_id,
        currency_code,
        try_cast(created_at as TIMESTAMP)      as created_at,
        try_cast(last_updated as TIMESTAMP)    as last_updated
    from checked_rows
)

select * from final
