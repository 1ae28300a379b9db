-- stg_design: the batch's design rows, one per line of its JSONL, checked, then cast to
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
            design_id: 'VARCHAR',
            design_name: 'VARCHAR',
            file_location: 'VARCHAR',
            file_name: 'VARCHAR',
            created_at: 'VARCHAR',
            last_updated: 'VARCHAR'
        }
    )
),

checked_rows as (
    select
        *,
        coalesce(
            not_null('design_id', design_id),
            integer_value('design_id', design_id),
            not_null('design_name', design_name),
            not_null('file_location', file_location),
            not_null('file_name', file_name),
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
        try_cast(design_id as INTEGER)         as design_id,
        design_name,
        file_location,
        file_name,
        try_cast(created_at as TIMESTAMP)      as created_at,
        try_cast(last_updated as TIMESTAMP)    as last_updated
    from checked_rows
)

select * from final
