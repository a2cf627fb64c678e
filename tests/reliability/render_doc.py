"""Render the reliability report (JSON written by the suite) as ``docs/reliability.md``.

    .venv/bin/pytest tests/reliability                      # writes the JSON report
    .venv/bin/python -m tests.reliability.render_doc        # -> docs/reliability.md

The report is read from ``--report``, else ``$KSPYDER_RELIABILITY_REPORT``, else pytest's
cache (``.pytest_cache/d/kspyder-reliability/report.json``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from extract.project import ROOT

DEFAULT_REPORT = ROOT / ".pytest_cache" / "d" / "kspyder-reliability" / "report.json"
DEFAULT_OUT = ROOT / "docs" / "reliability.md"

# Faults already covered by the rest of the test suite (not repeated here).
ELSEWHERE = [
    (
        "SIGKILL at a fixed delay during `kspyder extract`, rerun",
        "tests/flows/test_flows.py::test_sigkill_mid_extract_then_rerun_has_no_duplicate_or_"
        "missing_row",
    ),
    (
        "second run on a locked source (lock held by another process), in-process",
        "tests/flows/test_flows.py::test_second_run_on_a_locked_source_fails_clearly",
    ),
    (
        "one failing model keeps the others (Prefect flow, CLI exit code)",
        "tests/flows/test_flows.py::test_failing_model_fails_the_run_and_keeps_the_rest",
    ),
    (
        "DuckDB file deleted between runs (SQL source)",
        "tests/extract/test_sql_load.py::test_warehouse_file_deleted_between_runs_reloads_"
        "everything",
    ),
    (
        "`pii: drop` never reaches dlt's local files",
        "tests/extract/test_sql_load.py::test_pii_drop_never_reaches_local_files",
    ),
    (
        "Retry-After seconds / date / 0 / past, max_delay cap, dropped connection (unit level)",
        "tests/extract/rest/test_rest_retries.py",
    ),
    (
        "failing REST run commits nothing and keeps the cursor (dlt pipeline, no warehouse "
        "fixture)",
        "tests/extract/rest/test_rest_retries.py::test_failing_run_commits_nothing",
    ),
    (
        "read timeout retried then failing",
        "tests/extract/rest/test_rest_client.py::test_timeout_is_retried_then_fails",
    ),
    ("pagination loops per paginator style", "tests/extract/rest/test_rest_paginators.py"),
    (
        "auth failures do not echo credentials (bearer, api_key, basic, OAuth2)",
        "tests/extract/rest/test_rest_auth.py",
    ),
    (
        "hand-written invalid manifests (one per rule)",
        "tests/extract/test_manifest_validation.py::test_invalid_manifest",
    ),
    (
        "hand-written invalid pipeline files",
        "tests/transform/aggregate/test_pipeline_validation.py",
    ),
    (
        "documents: incremental state saved only after a complete load; replace keeps the old "
        "collection on failure",
        "tests/extract/test_documents.py",
    ),
    (
        "analyst role sees no personal data in staging and marts (PostgreSQL)",
        "tests/transform/dbt/test_transform_postgres.py::test_analyst_sees_no_personal_data",
    ),
]


SECTIONS = {
    "test_rest_faults": "REST faults (demo API on loopback -> DuckDB)",
    "test_crash_recovery": "Crashes: SIGKILL in each phase, then rerun",
    "test_warehouse_loss": "The warehouse loses a source between runs",
    "test_concurrency": "Two runs on one source at once",
    "test_hostile_config": "Generated invalid manifests and pipeline files (hypothesis)",
    "test_hostile_yaml": "Hostile YAML and files",
    "test_schema_drift": "Schema drift",
    "test_identifiers": "Hostile identifiers",
    "test_data_values": "Awkward data values",
    "test_secrets": "Secrets",
    "test_failure_isolation": "One failing model never blocks the others",
    "test_rebuild": "kspyder rebuild: a true reset",
    "test_value_fidelity": "Value fidelity, type by type (see docs/fidelity.md)",
    "test_disk": "Disk: a full disk and load package retention",
    "test_incremental_integrity": "Incremental loads and pagination integrity",
    "test_trust_boundaries": "Trust boundaries: credentials, passwords, hostile values",
    "test_trust_runs": "Trust boundaries: Prefect states, pseudonyms, a newcomer's commands",
}


def _module(nodeid: str) -> str:
    return nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _result(case: dict[str, Any]) -> str:
    result = case["result"]
    if result.startswith("xfailed"):
        label = "**known bug** (strict xfail)"
    elif result == "passed":
        label = "passed"
    else:
        label = f"**{result}**"
    measured = []
    for key, name in (("rows_lost", "rows lost"), ("duplicates", "duplicates")):
        if case[key]:
            measured.append(f"{name} {case[key]:,}")
    if case["secrets_leaked"]:
        measured.append(f"secrets leaked {case['secrets_leaked']}")
    text = label + (f": {', '.join(measured)}" if measured else "")
    if not result == "passed" and case.get("notes"):
        text += f" ({case['notes'][:140]})"
    return text


def render(report: dict[str, Any]) -> str:
    """The Markdown page for a report."""
    cases = report["cases"]
    totals = report["totals"]
    outside = sum(c["rows_lost"] for c in cases if not c["result"].startswith("xfailed"))
    lines = [
        "# Reliability and security",
        "",
        "Faults injected into kspyder on purpose, and what survives them. Modelled on Airbyte's",
        "connector acceptance tests and the Singer SDK target tests: real servers on loopback",
        "(the demo REST API with fault injection, PostgreSQL, SQLite), real processes killed",
        "with SIGKILL, generated hostile input. The suite is `tests/reliability/`; this page",
        'is generated from its last run (the dbt test supplies the "PII visible to analysts"',
        "total; without it the page points at it):",
        "",
        "```bash",
        "KSPYDER_RELIABILITY_REPORT=/tmp/reliability.json .venv/bin/pytest tests/reliability \\",
        "    tests/transform/dbt/test_transform_postgres.py::test_analyst_sees_no_personal_data",
        ".venv/bin/python -m tests.reliability.render_doc --report /tmp/reliability.json",
        "```",
        "",
        f"Last run: {report['generated_at']}, {report['duration_s']:.0f} s, Python "
        f"{report['python']} on {report['platform']}.",
        "",
        "A **known bug** is a test marked `xfail(strict=True)`: it fails today because of the",
        "bug in its reason, and will fail the suite (XPASS) once the bug is fixed, so the mark",
        "gets removed. *Faults* counts faults injected (for generated input: files generated),",
        "*survived* the runs that ended as expected. Test ids are relative to",
        "`tests/reliability/`.",
        "",
        "## Totals",
        "",
        "| measure | value |",
        "|---|---|",
        f"| cases | {totals['cases']} |",
        f"| faults injected | {totals['faults']:,} |",
        f"| runs survived | {totals['survived']:,} |",
        f"| rows lost | {outside:,} outside known bugs; "
        f"{totals['rows_lost']:,} in all (measured in the known-bug cases) |",
        f"| duplicates | {totals['duplicates']:,} |",
        f"| secrets leaked | {totals['secrets_leaked']} |",
        f"| PII values visible to analysts | {_cell(report['pii_visible_to_analysts'])} |",
        f"| known bugs (strict xfail) | {totals['known_bugs']} |",
        f"| failed | {totals['failed']} |",
        "",
        "## Cases",
    ]
    order = list(SECTIONS)
    modules = sorted(
        {_module(c["nodeid"]) for c in cases},
        key=lambda m: (order.index(m) if m in order else len(order), m),
    )
    for number, module in enumerate(modules, start=1):
        lines += [
            "",
            f"### {number}. {SECTIONS.get(module, module)}",
            "",
            "| case | how it is injected | expected | result | test |",
            "|---|---|---|---|---|",
        ]
        for case in (c for c in cases if _module(c["nodeid"]) == module):
            test = case["nodeid"].removeprefix("tests/reliability/")
            lines.append(
                f"| {_cell(case['case'])} | {_cell(case['injected'])} | "
                f"{_cell(case['expected'])} | {_cell(_result(case))} | `{test}` |"
            )
    bugs: dict[str, list[str]] = {}
    for case in cases:
        if case["result"].startswith("xfailed") and case.get("reason"):
            bugs.setdefault(case["reason"], []).append(case["nodeid"])
    if bugs:
        lines += ["", "## Known bugs and gaps", ""]
        for reason, nodes in bugs.items():
            lines.append(f"- {_cell(reason)}  ")
            lines.append("  " + ", ".join(f"`{n}`" for n in nodes))
    lines += [
        "",
        "## Covered elsewhere",
        "",
        "| fault | test |",
        "|---|---|",
    ]
    lines += [f"| {_cell(what)} | `{node}` |" for what, node in ELSEWHERE]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI: read the JSON report, write the Markdown page."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.render_doc")
    env = os.environ.get("KSPYDER_RELIABILITY_REPORT")
    parser.add_argument("--report", type=Path, default=Path(env) if env else DEFAULT_REPORT)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="'-' for stdout")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    page = render(report)
    if str(args.out) == "-":
        print(page, end="")
    else:
        args.out.write_text(page, encoding="utf-8")
        print(f"wrote {args.out} ({len(report['cases'])} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
