-- stg_counterparty: the batch's counterparty rows, one per line of its JSONL, checked, then cast to
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
            counterparty_id: 'VARCHAR',
            counterparty_legal_name: 'VARCHAR',
            legal_address_id: 'VARCHAR',
            commercial_contact: 'VARCHAR',
            delivery_contact: 'VARCHAR',
            created_at: 'VARCHAR',
            last_updated: 'VARCHAR'
        }
    )
),

checked_rows as (
    select
        *,
        coalesce(
            not_null('counterparty_id', counterparty_id),
            integer_value('counterparty_id', counterparty_id),
            not_null('counterparty_legal_name', counterparty_legal_name),
            not_null('legal_address_id', legal_address_id),
            integer_value('legal_address_id', legal_address_id),
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
        try_cast(counterparty_id as INTEGER)     as counterparty_id,
        counterparty_legal_name,
        try_cast(legal_address_id as INTEGER)    as legal_address_id,
        commercial_contact,
        delivery_contact,
        try_cast(created_at as TIMESTAMP)        as created_at,
        try_cast(last_updated as TIMESTAMP)      as last_updated
    from checked_rows
)

select * from final
