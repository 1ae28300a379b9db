-- dim_payment_type: the payment types changed in this batch.
with

payment_types as (select * from stg_payment_type),

final as (
    select
        payment_type_id,
        payment_type_name
    from payment_types
)

select * from final
