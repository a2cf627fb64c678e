-- Revenue per calendar month (UTC): ERP invoices issued and paid, CRM deals won, and the
-- share of ERP revenue from people the CRM also knows (matched on the email pseudonym).

with

customers as (

    select * from {{ ref('int_customers_matched') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

orders as (

    select * from {{ ref('stg_erp__orders') }}

),

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

invoiced as (

    select
        cast({{ dbt.date_trunc('month', 'invoices.issued_at') }} as date) as revenue_month,
        count(*) as invoice_count,
        count(distinct invoices.customer_id) as invoiced_customer_count,
        sum(invoices.amount) as invoiced_revenue,
        sum(
            case when customers.is_matched then invoices.amount else 0 end
        ) as invoiced_revenue_crm_customers
    from invoices
    left join customers
        on invoices.customer_id = customers.erp_customer_id
    group by 1

),

paid as (

    select
        cast({{ dbt.date_trunc('month', 'paid_at') }} as date) as revenue_month,
        sum(amount) as paid_revenue
    from invoices
    where paid_at is not null
    group by 1

),

ordered as (

    select
        cast({{ dbt.date_trunc('month', 'ordered_at') }} as date) as revenue_month,
        count(*) as order_count,
        sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_order_count
    from orders
    group by 1

),

won as (

    select
        cast({{ dbt.date_trunc('month', 'deals.updated_at') }} as date) as revenue_month,
        count(*) as won_deal_count,
        sum(deals.amount) as won_deal_revenue,
        sum(
            case when customers.is_matched then deals.amount else 0 end
        ) as won_deal_revenue_erp_customers
    from deals
    left join customers
        on deals.customer_id = customers.crm_customer_id
    where deals.stage = 'won'
    group by 1

),

months as (

    select revenue_month from invoiced
    union
    select revenue_month from paid
    union
    select revenue_month from ordered
    union
    select revenue_month from won

),

final as (

    select
        months.revenue_month,
        coalesce(ordered.order_count, 0) as order_count,
        coalesce(ordered.cancelled_order_count, 0) as cancelled_order_count,
        coalesce(invoiced.invoice_count, 0) as invoice_count,
        coalesce(invoiced.invoiced_customer_count, 0) as invoiced_customer_count,
        coalesce(won.won_deal_count, 0) as won_deal_count,
        coalesce(invoiced.invoiced_revenue, 0) as invoiced_revenue,
        coalesce(invoiced.invoiced_revenue_crm_customers, 0) as invoiced_revenue_crm_customers,
        coalesce(paid.paid_revenue, 0) as paid_revenue,
        coalesce(won.won_deal_revenue, 0) as won_deal_revenue,
        coalesce(won.won_deal_revenue_erp_customers, 0) as won_deal_revenue_erp_customers,
        coalesce(invoiced.invoiced_revenue, 0)
            + coalesce(won.won_deal_revenue, 0) as total_revenue
    from months
    left join invoiced
        on months.revenue_month = invoiced.revenue_month
    left join paid
        on months.revenue_month = paid.revenue_month
    left join ordered
        on months.revenue_month = ordered.revenue_month
    left join won
        on months.revenue_month = won.revenue_month

)

select * from final
