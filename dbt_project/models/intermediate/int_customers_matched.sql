-- One row per person: ERP and CRM customers matched on the email pseudonym (the keyed
-- HMAC computed at extraction, identical in both sources for the same address).
-- A customer without an email keeps a source-prefixed key and stays unmatched.

with

erp_customers as (

    select * from {{ ref('stg_erp__customers') }}

),

crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

matched as (

    select
        coalesce(
            erp_customers.email_hash,
            crm_customers.email_hash,
            'erp:' || cast(erp_customers.customer_id as varchar),
            'crm:' || crm_customers.customer_id
        ) as customer_key,
        erp_customers.customer_id as erp_customer_id,
        crm_customers.customer_id as crm_customer_id,
        erp_customers.customer_id is not null
            and crm_customers.customer_id is not null as is_matched,
        coalesce(erp_customers.country, crm_customers.address_country) as country,
        coalesce(erp_customers.city, crm_customers.address_city) as city,
        case
            when crm_customers.created_at is null then erp_customers.created_at
            when erp_customers.created_at is null then crm_customers.created_at
            when erp_customers.created_at < crm_customers.created_at
                then erp_customers.created_at
            else crm_customers.created_at
        end as first_seen_at
    from erp_customers
    full outer join crm_customers
        on erp_customers.email_hash = crm_customers.email_hash

)

select * from matched
