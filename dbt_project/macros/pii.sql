{#- PII masking applied in staging models (manifest `pii: mask` / `pii: redact`).
    `drop` and `hash` run at extraction (extract/pii.py): the key never reaches dbt. -#}

{#- 'jane.doe@example.com' -> 'j***@example.com' -#}
{% macro mask_email(column) -%}
    {%- set value = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' %}
    case
        when {{ value }} is null then null
        when position('@' in {{ value }}) > 1
            then left({{ value }}, 1) || '***@' || split_part({{ value }}, '@', 2)
        else '***'
    end
{%- endmacro %}

{#- '+33 6 12 34 56 78' -> '***78': only the last two digits survive -#}
{% macro mask_phone(column) -%}
    {%- set value = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' %}
    case
        when {{ value }} is null then null
        else '***' || right(regexp_replace({{ value }}, '[^0-9]', '', 'g'), 2)
    end
{%- endmacro %}

{#- 'Jane' -> 'J***': the first character is kept -#}
{% macro mask_text(column) -%}
    {%- set value = 'cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')' %}
    case
        when {{ value }} is null then null
        else left({{ value }}, 1) || '***'
    end
{%- endmacro %}

{#- any value -> '[redacted]' (null stays null) -#}
{% macro redact(column) -%}
    case
        when {{ column }} is null then null
        else '[redacted]'
    end
{%- endmacro %}
