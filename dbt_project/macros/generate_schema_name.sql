{#- Models land in the schema their folder names (staging, marts), not <target>_<custom>:
    raw schemas are named after sources, so analyst-visible schemas stay few and fixed. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
