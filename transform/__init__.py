"""What reads the warehouse or MongoDB after loading: dbt, aggregations, grants, PII report."""
