-- fact_purchase_order: one row per version of a purchase order in this batch.
with

purchase_orders as (select * from stg_purchase_order),

final as (
    select
        purchase_order_id,
        cast(created_at as date)               as created_date,
        cast(created_at as time)               as created_time,
        cast(last_updated as date)             as last_updated_date,
        cast(last_updated as time)             as last_updated_time,
        staff_id,
        counterparty_id,
        item_code,
        item_quantity,
        item_unit_price,
        currency_id,
        cast(agreed_delivery_date as date)     as agreed_delivery_date,
        cast(agreed_payment_date as date)      as agreed_payment_date,
        agreed_delivery_location_id
    from purchase_orders
)

select * from final
