"""Benchmarks: run by hand (`make bench`), reported in docs/benchmarks.md."""
