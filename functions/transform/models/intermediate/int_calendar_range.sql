-- int_calendar_range: the days dim_date covers, one row: from the earliest to the latest date any
-- fact has referenced so far. That is the range the previous batch left (previous_calendar_range,
-- carried in the processed manifest; no row before the first batch with facts), widened to every
-- date of this batch's facts. `widened` is true when this batch moved either end, which is when
-- dim_date is written again. first_day and last_day are null while no fact has any date.
with

previous_range as (select * from previous_calendar_range),

sales_orders as (select * from fact_sales_order),

purchase_orders as (select * from fact_purchase_order),

payments as (select * from fact_payment),

-- Every date column of every fact: each references dim_date (a check holds this list to that).
fact_days as (
    select created_date as day from sales_orders
    union all select last_updated_date from sales_orders
    union all select agreed_payment_date from sales_orders
    union all select agreed_delivery_date from sales_orders
    union all select created_date from purchase_orders
    union all select last_updated_date from purchase_orders
    union all select agreed_delivery_date from purchase_orders
    union all select agreed_payment_date from purchase_orders
    union all select created_date from payments
    union all select last_updated_date from payments
    union all select payment_date from payments
),

known_days as (
    select day from fact_days
    union all select first_day from previous_range
    union all select last_day from previous_range
),

widest_range as (
    select
        min(day)                               as first_day,
        max(day)                               as last_day
    from known_days
),

final as (
    select
        widest_range.first_day,
        widest_range.last_day,
        widest_range.first_day is distinct from previous_range.first_day
            or widest_range.last_day is distinct from previous_range.last_day as widened
    from widest_range
    left join previous_range on true
)

select * from final
