-- dim_location: the addresses changed in this batch, with their current values.
with

changed_address_rows as (select * from stg_address),

addresses as (select * from current_address),

final as (
    select
        addresses.address_id                   as location_id,
        addresses.address_line_1,
        addresses.address_line_2,
        addresses.district,
        addresses.city,
        addresses.postal_code,
        addresses.country,
        addresses.phone
    from changed_address_rows
    join addresses using (address_id)
)

select * from final
