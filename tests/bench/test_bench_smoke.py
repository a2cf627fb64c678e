"""The benchmark harness works end to end in quick mode (no assertion on time)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_mode_writes_a_report(tmp_path: Path) -> None:
    from bench.run_all import main

    out = main(["--quick", "--json-dir", str(tmp_path), "--out", str(tmp_path / "b.md")])
    text = out.read_text()
    for heading in (
        "## 1. PostgreSQL",
        "## 2. The same table into DuckDB",
        "## 3. Scale",
        "## 4. REST",
    ):
        assert heading in text
    assert "(FAILED)" not in text
    assert (tmp_path / "pg_quick.json").exists()
