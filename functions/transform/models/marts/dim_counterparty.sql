-- dim_counterparty: every counterparty whose own row or whose legal address changed in this
-- batch, rebuilt from the current state of both (an address change reaches its counterparties).
with

changed_counterparty_rows as (select * from stg_counterparty),

changed_address_rows as (select * from stg_address),

counterparties as (select * from current_counterparty),

addresses as (select * from current_address),

changed_counterparties as (
    select counterparty_id from changed_counterparty_rows
    union
    select counterparties.counterparty_id
    from counterparties
    join changed_address_rows on changed_address_rows.address_id = counterparties.legal_address_id
),

final as (
    select
        counterparties.counterparty_id,
        counterparties.counterparty_legal_name,
        addresses.address_line_1               as counterparty_legal_address_line_1,
        addresses.address_line_2               as counterparty_legal_address_line_2,
        addresses.district                     as counterparty_legal_district,
        addresses.city                         as counterparty_legal_city,
        addresses.postal_code                  as counterparty_legal_postal_code,
        addresses.country                      as counterparty_legal_country,
        addresses.phone                        as counterparty_legal_phone_number
    from changed_counterparties
    join counterparties using (counterparty_id)
    join addresses on addresses.address_id = counterparties.legal_address_id
)

select * from final
