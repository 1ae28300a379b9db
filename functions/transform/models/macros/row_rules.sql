-- The rules a ToteSys value read from JSONL must keep, one macro each, defined once: the staging
-- models (staging/stg_<table>.sql) check every row with them, and a diagnosis of a bad object runs
-- those same models over its numbered lines to name the line and the field.
--
-- Values arrive as text (read_json with VARCHAR columns) and are checked against a strict pattern
-- for their type before they are cast, because DuckDB's own casts are lenient: a boolean from
-- "yes" or 1, an integer rounded from 3.5, a timestamp with its offset dropped.
--
-- Each macro gives null when the value keeps the rule, else the broken rule: the field, the value
-- as the rule saw it, the rule's name and what is wrong. The problem reads after the value
-- ("many" is not an integer), except not_null's, which has no value to show.

create macro broken_rule(field, value, rule, problem) as {'field': field, 'value': value, 'rule': rule, 'problem': problem};

-- JSON null, or no such key: read_json cannot tell them apart (the diagnosis can: it reads the line).
create macro not_null(field, value) as
    case when value is null then broken_rule(field, value, 'not_null', 'required field is null') end;

-- PostgreSQL integer: at most ten digits, within its range.
create macro integer_value(field, value) as
    case when value is not null and (not regexp_full_match(value, '^-?[0-9]{1,10}$') or try_cast(value as integer) is null)
        then broken_rule(field, value, 'integer_value', 'is not an integer') end;

-- numeric(10,2): at most 8 digits before the point and 2 after.
create macro decimal_10_2_value(field, value) as
    case when value is not null and not regexp_full_match(value, '^-?[0-9]{1,8}([.][0-9]{1,2})?$')
        then broken_rule(field, value, 'decimal_10_2_value', 'is not a number with at most 8 digits before the point and 2 after') end;

create macro boolean_value(field, value) as
    case when value is not null and value not in ('true', 'false')
        then broken_rule(field, value, 'boolean_value', 'is not true or false') end;

-- timestamp(3) without time zone: a real calendar day and time, at most milliseconds, no offset.
create macro timestamp_value(field, value) as
    case when value is not null
            and (not regexp_full_match(value, '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,3})?$')
                 or try_cast(value as timestamp) is null)
        then broken_rule(field, value, 'timestamp_value', 'is not a timestamp') end;

-- A text column that holds a date ('YYYY-MM-DD'), a real calendar day.
create macro date_text(field, value) as
    case when value is not null and (not regexp_full_match(value, '^[0-9]{4}-[0-9]{2}-[0-9]{2}$') or try_cast(value as date) is null)
        then broken_rule(field, value, 'date_text', 'is not a date (YYYY-MM-DD)') end;

-- character varying(n).
create macro max_length(field, value, n) as
    case when value is not null and length(value) > n
        then broken_rule(field, value, 'max_length', 'is longer than ' || n || ' characters') end;

-- A ToteSys enum: one of its labels.
create macro accepted_values(field, value, labels) as
    case when value is not null and not list_contains(labels, value)
        then broken_rule(field, value, 'accepted_values', 'is not one of ' || array_to_string(labels, ', ')) end;

-- A day a date or timestamp may fall on (PIPELINE_EARLIEST_DATE … PIPELINE_LATEST_DATE, set by the
-- driver as variables): outside them a value is held, so one '9999-12-31' cannot grow dim_date by
-- millions of days. Compares the first ten characters as text, which orders like days once the
-- type's rule has passed.
create macro accepted_day(field, value) as
    case
        when value is not null and left(value, 10) < getvariable('earliest_accepted_day')
            then broken_rule(field, value, 'accepted_day', 'is before the earliest day accepted, ' || getvariable('earliest_accepted_day') || ' (PIPELINE_EARLIEST_DATE)')
        when value is not null and left(value, 10) > getvariable('latest_accepted_day')
            then broken_rule(field, value, 'accepted_day', 'is after the latest day accepted, ' || getvariable('latest_accepted_day') || ' (PIPELINE_LATEST_DATE)')
    end;
