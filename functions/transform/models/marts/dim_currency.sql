-- dim_currency: the currencies changed in this batch, named in English from the platform's
-- internationalisation data (currency_name_lookup, a model in TypeScript: reference-data.ts); an
-- unknown code keeps the code as its name.
with

changed_currencies as (select * from stg_currency),

currency_names as (select * from currency_name_lookup),

final as (
    select
        changed_currencies.currency_id,
        changed_currencies.currency_code,
        coalesce(currency_names.currency_name, changed_currencies.currency_code) as currency_name
    from changed_currencies
    left join currency_names using (currency_code)
)

select * from final
