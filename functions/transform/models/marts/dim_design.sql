-- dim_design: the designs changed in this batch.
with

designs as (select * from stg_design),

final as (
    select
        design_id,
        design_name,
        file_location,
        file_name
    from designs
)

select * from final
