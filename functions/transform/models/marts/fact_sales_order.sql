-- fact_sales_order: one row per version of a sales order in this batch (facts keep every version).
with

sales_orders as (select * from stg_sales_order),

final as (
    select
        sales_order_id,
        cast(created_at as date)               as created_date,
        cast(created_at as time)               as created_time,
        cast(last_updated as date)             as last_updated_date,
        cast(last_updated as time)             as last_updated_time,
        staff_id                               as sales_staff_id,
        counterparty_id,
        units_sold,
        unit_price,
        currency_id,
        design_id,
        cast(agreed_payment_date as date)      as agreed_payment_date,
        cast(agreed_delivery_date as date)     as agreed_delivery_date,
        agreed_delivery_location_id
    from sales_orders
)

select * from final
