-- fact_payment: one row per version of a payment in this batch. Account numbers are dropped.
with

payments as (select * from stg_payment),

final as (
    select
        payment_id,
        cast(created_at as date)               as created_date,
        cast(created_at as time)               as created_time,
        cast(last_updated as date)             as last_updated_date,
        cast(last_updated as time)             as last_updated_time,
        transaction_id,
        counterparty_id,
        payment_amount,
        currency_id,
        payment_type_id,
        paid,
        cast(payment_date as date)             as payment_date
    from payments
)

select * from final
