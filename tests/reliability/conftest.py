"""Reliability suite: a ``reliability`` fixture records each case; the session writes a report.

Every test calls ``reliability.record(case=..., injected=..., expected=..., faults=...,
survived=..., rows_lost=..., duplicates=..., secrets_leaked=...)`` with what it measured,
before asserting. At the end of the session the cases, joined with each test's outcome, are
written as JSON to ``$KSPYDER_RELIABILITY_REPORT`` (else ``.pytest_cache/d/kspyder-reliability/
report.json``) and summed up in the terminal summary, so CI output shows the totals.
``python -m tests.reliability.render_doc`` turns the JSON into ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPORT_ENV = "KSPYDER_RELIABILITY_REPORT"
CACHE_DIR = "kspyder-reliability"
PII_TEST = "tests/transform/dbt/test_transform_postgres.py::test_analyst_sees_no_personal_data"
METRICS = ("faults", "survived", "rows_lost", "duplicates", "secrets_leaked")
_CASES = pytest.StashKey[list["Case"]]()
_STARTED = pytest.StashKey[float]()


@dataclass
class Case:
    """One reliability case as measured by a test (the test's outcome is added at the end)."""

    nodeid: str
    case: str
    injected: str
    expected: str
    faults: int = 1
    survived: int = 1
    rows_lost: int = 0
    duplicates: int = 0
    secrets_leaked: int = 0
    notes: str = ""
    result: str = "not run"
    reason: str = ""  # the xfail reason: the known bug, when there is one


@dataclass
class Recorder:
    """What the ``reliability`` fixture gives a test: ``record(...)`` one or more cases."""

    nodeid: str
    sink: list[Case] = field(default_factory=list)

    def record(
        self,
        case: str,
        injected: str,
        expected: str,
        faults: int = 1,
        survived: int = 1,
        rows_lost: int = 0,
        duplicates: int = 0,
        secrets_leaked: int = 0,
        notes: str = "",
    ) -> None:
        """Record one case with the numbers the test measured (call it before asserting)."""
        self.sink.append(
            Case(
                self.nodeid,
                case,
                injected,
                expected,
                int(faults),
                int(survived),
                int(rows_lost),
                int(duplicates),
                int(secrets_leaked),
                notes,
            )
        )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_CASES] = []
    config.stash[_STARTED] = time.time()


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Recorder:
    """Record reliability cases for the session report."""
    return Recorder(request.node.nodeid, request.config.stash[_CASES])


def _outcomes(stats: dict[str, list[Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """Each test's outcome (and xfail reason) from the terminal reporter's reports."""
    outcome: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for reports in stats.values():
        for report in reports:
            nodeid, when = getattr(report, "nodeid", None), getattr(report, "when", None)
            if nodeid is None or when is None:
                continue
            if report.failed:
                outcome[nodeid] = "failed"
            elif hasattr(report, "wasxfail") and outcome.get(nodeid) != "failed":
                outcome[nodeid] = "xfailed (known bug)"
                reasons[nodeid] = str(report.wasxfail).removeprefix("reason: ")
            elif report.skipped and outcome.get(nodeid) != "failed":
                outcome[nodeid] = "skipped"
            elif when == "call" and nodeid not in outcome:
                outcome[nodeid] = "passed"
    return outcome, reasons


def _pii_visible(outcomes: dict[str, str]) -> str:
    found = {n: o for n, o in outcomes.items() if n.endswith(PII_TEST)}
    if not found:
        return f"see {PII_TEST} (not run in this session)"
    result = next(iter(found.values()))
    if result == "passed":
        return f"0 ({PII_TEST} passed in this session)"
    return f"unknown: {PII_TEST} {result}"


def _totals(cases: list[Case]) -> dict[str, int]:
    totals = {m: sum(getattr(c, m) for c in cases) for m in METRICS}
    totals["cases"] = len(cases)
    known = [c for c in cases if c.result.startswith("xfailed")]
    totals["known_bugs"] = len(known)
    totals["rows_lost_outside_known_bugs"] = totals["rows_lost"] - sum(c.rows_lost for c in known)
    totals["failed"] = sum(1 for c in cases if c.result == "failed")
    return totals


def report_path(config: pytest.Config) -> Path:
    """Where the JSON report goes: ``$KSPYDER_RELIABILITY_REPORT`` or pytest's cache."""
    if os.environ.get(REPORT_ENV):
        return Path(os.environ[REPORT_ENV])
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir(CACHE_DIR)) / "report.json"
    return Path(str(config.rootpath)) / ".pytest_cache" / "d" / CACHE_DIR / "report.json"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    cases = config.stash.get(_CASES, [])
    if not cases:
        return
    outcomes, reasons = _outcomes(terminalreporter.stats)
    for case in cases:
        case.result = outcomes.get(case.nodeid, "not run")
        case.reason = reasons.get(case.nodeid, "")
    totals = _totals(cases)
    pii = _pii_visible(outcomes)
    started = config.stash.get(_STARTED, time.time())
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "duration_s": round(time.time() - started, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cases": [asdict(c) for c in cases],
        "totals": totals,
        "pii_visible_to_analysts": pii,
    }
    path = report_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    _print_summary(terminalreporter, cases, totals, pii, path)


def _print_summary(
    tr: Any, cases: list[Case], totals: dict[str, int], pii: str, path: Path
) -> None:
    tr.write_sep("=", "kspyder reliability")
    width = min(max(len(c.case) for c in cases), 58)
    header = f"{'case':<{width}} {'faults':>6} {'survived':>8} {'lost':>5} {'dups':>5} {'leaks':>5}"
    tr.write_line(f"{header}  result")
    for c in cases:
        name = c.case if len(c.case) <= width else c.case[: width - 1] + "…"
        tr.write_line(
            f"{name:<{width}} {c.faults:>6} {c.survived:>8} {c.rows_lost:>5} "
            f"{c.duplicates:>5} {c.secrets_leaked:>5}  {c.result}"
        )
    tr.write_line(
        f"totals: {totals['cases']} cases, faults injected {totals['faults']}, runs survived "
        f"{totals['survived']}, rows lost {totals['rows_lost']}, duplicates "
        f"{totals['duplicates']}, secrets leaked {totals['secrets_leaked']}, known bugs "
        f"{totals['known_bugs']}, failed {totals['failed']}"
    )
    tr.write_line(f"PII values visible to analysts: {pii}")
    tr.write_line(f"report: {path}")
