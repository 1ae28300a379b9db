-- dim_staff: every staff member whose own row or whose department changed in this batch,
-- rebuilt from the current state of both (a department rename reaches all its staff).
with

changed_staff_rows as (select * from stg_staff),

changed_department_rows as (select * from stg_department),

staff as (select * from current_staff),

departments as (select * from current_department),

changed_staff as (
    select staff_id from changed_staff_rows
    union
    select staff.staff_id
    from staff
    join changed_department_rows on changed_department_rows.department_id = staff.department_id
),

final as (
    select
        staff.staff_id,
        staff.first_name,
        staff.last_name,
        departments.department_name,
        departments.location,
        staff.email_address
    from changed_staff
    join staff using (staff_id)
    join departments on departments.department_id = staff.department_id
)

select * from final
