-- dim_date: the whole calendar, every day from the earliest to the latest date any fact has
-- referenced so far (calendar_bounds is kept by the driver across batches). Emitted only in
-- batches that widen the range. ISO day of week: Monday 1 ... Sunday 7.
with

calendar_range as (select * from calendar_bounds),

days as (
    select cast(day as date) as date_id
    from calendar_range, generate_series(calendar_range.first_day, calendar_range.last_day, interval 1 day) as series(day)
),

final as (
    select
        date_id,
        cast(year(date_id) as integer)         as year,
        cast(month(date_id) as integer)        as month,
        cast(day(date_id) as integer)          as day,
        cast(isodow(date_id) as integer)       as day_of_week,
        dayname(date_id)                       as day_name,
        monthname(date_id)                     as month_name,
        cast(quarter(date_id) as integer)      as quarter
    from days
)

select * from final
