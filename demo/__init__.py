"""Deterministic demo data (people, ERP SQLite, cloud inventory) and the local demo REST API."""
