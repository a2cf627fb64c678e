-- One row per person across the ERP and the CRM (matched on the email pseudonym):
-- what they bought (ERP orders and invoices) and what sales won with them (CRM deals).

with

customers as (

    select * from {{ ref('int_customers_matched') }}

),

orders as (

    select * from {{ ref('stg_erp__orders') }}

),

invoices as (

    select * from {{ ref('stg_erp__invoices') }}

),

deals as (

    select * from {{ ref('stg_crm__deals') }}

),

contacts as (

    select * from {{ ref('stg_crm__contacts') }}

),

erp_orders as (

    select
        customer_id,
        count(*) as order_count,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    where status != 'cancelled'
    group by customer_id

),

erp_invoices as (

    select
        customer_id,
        sum(amount) as invoiced_amount,
        sum(case when paid_at is not null then amount else 0 end) as paid_amount
    from invoices
    group by customer_id

),

crm_deals as (

    select
        customer_id,
        count(*) as won_deal_count,
        sum(amount) as won_deal_amount
    from deals
    where stage = 'won'
    group by customer_id

),

crm_contacts as (

    select
        customer_id,
        count(*) as contact_count,
        max(contacted_at) as last_contacted_at
    from contacts
    group by customer_id

),

final as (

    select
        customers.customer_key,
        customers.erp_customer_id,
        customers.crm_customer_id,
        customers.is_matched,
        customers.country,
        customers.first_seen_at,
        erp_orders.first_order_at,
        erp_orders.last_order_at,
        crm_contacts.last_contacted_at,
        coalesce(erp_orders.order_count, 0) as order_count,
        coalesce(crm_deals.won_deal_count, 0) as won_deal_count,
        coalesce(crm_contacts.contact_count, 0) as contact_count,
        coalesce(erp_invoices.invoiced_amount, 0) as invoiced_amount,
        coalesce(erp_invoices.paid_amount, 0) as paid_amount,
        coalesce(crm_deals.won_deal_amount, 0) as won_deal_amount,
        coalesce(erp_invoices.invoiced_amount, 0)
            + coalesce(crm_deals.won_deal_amount, 0) as lifetime_value
    from customers
    left join erp_orders
        on customers.erp_customer_id = erp_orders.customer_id
    left join erp_invoices
        on customers.erp_customer_id = erp_invoices.customer_id
    left join crm_deals
        on customers.crm_customer_id = crm_deals.customer_id
    left join crm_contacts
        on customers.crm_customer_id = crm_contacts.customer_id

)

select * from final
