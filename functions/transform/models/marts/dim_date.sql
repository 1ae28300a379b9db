-- dim_date: the whole calendar, every day of int_calendar_range (from the earliest to the latest
-- date any fact has referenced so far). It has rows only in a batch that widens the range, so
-- only such a batch writes it: a batch whose dates are all known leaves the warehouse's calendar
-- as it is. ISO day of week: Monday 1 ... Sunday 7.
with

calendar_range as (select * from int_calendar_range),

days as (
    select cast(day as date) as date_id
    from calendar_range, generate_series(calendar_range.first_day, calendar_range.last_day, interval 1 day) as series(day)
    where calendar_range.widened
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
