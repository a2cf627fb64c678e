-- Applies every PII macro to the fake values of the `pii_examples` seed: the model the
-- masking unit tests run against (ephemeral, so nothing is built in the warehouse).

with

examples as (

    select example from {{ ref('pii_examples') }}

),

masked as (

    select
        example,
        {{ mask_email('example') }} as email_masked,
        {{ mask_phone('example') }} as phone_masked,
        {{ mask_text('example') }} as text_masked,
        {{ redact('example') }} as redacted
    from examples

)

select * from masked
