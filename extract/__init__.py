"""kspyder extract: manifests, dlt source builders, PII handling and sinks."""
