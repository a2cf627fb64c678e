"""kspyder flows: Prefect flows, tasks and the command line."""
