-- dim_transaction: the transactions changed in this batch.
with

transactions as (select * from stg_transaction),

final as (
    select
        transaction_id,
        transaction_type,
        sales_order_id,
        purchase_order_id
    from transactions
)

select * from final
