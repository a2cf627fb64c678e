"""The report in a real browser: headless Chromium, no network, no console errors.

The page writes what it drew into ``#render-status`` after rendering (diagrams, each
chart's data points, errors caught); ``chromium --dump-dom`` returns that DOM. Chromium is
Debian's ``chromium`` package: the session fixture installs it when missing (``make test``
does too), so a fresh machine runs this test instead of skipping it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from extract import project
from tests.helpers.cloud import costs_by, expected_topology, top_resources, vms_by
from transform.report import write_report

Data = dict[str, list[dict[str, Any]]]
SCREENSHOT = project.ROOT / "docs" / "img" / "report.png"
FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in CI
    "--disable-gpu",
    "--enable-logging=stderr",
    "--v=0",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: any network fetch would fail loudly
    "--virtual-time-budget=60000",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, installed with apt-get when missing (never skipped)."""
    found = shutil.which("chromium")
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=False, capture_output=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True,
                       env=env)  # fmt: skip
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is missing: apt-get install -y chromium (make test does it)")
    return found


def _browse(chromium: str, page: Path, *extra: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={home}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _status(dom: str) -> dict[str, Any]:
    found = re.search(r'<pre id="render-status" data-done="1">(.*?)</pre>', dom, re.S)
    assert found, "the page never finished rendering (no #render-status)"
    status: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return status


def test_report_renders_in_chromium(estate: Data, chromium: str, tmp_path: Path) -> None:
    page = write_report()
    run = _browse(chromium, page, "--dump-dom", home=tmp_path / "profile")
    assert run.returncode == 0, run.stderr[-2000:]
    status = _status(run.stdout)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert status["errors"] == []

    expected = expected_topology(estate)
    assert status["diagrams"] == len(estate["virtual_networks"]) == 200
    assert {v["name"]: (v["nodes"], v["edges"]) for v in status["vnets"]} == expected

    charts = status["charts"]
    python = costs_by(estate, "CostCenter")
    for trace in charts["chart-cost-by-tag"]:
        for month, y in zip(trace["x"], trace["y"], strict=True):
            total = sum(
                t for (v, _, m), (t, _) in python.items() if (v, m) == (trace["name"], month)
            )
            assert y == pytest.approx(total, abs=0.02), (trace["name"], month)
    assert {t["name"] for t in charts["chart-cost-by-tag"]} == {k[0] for k in python}
    [top] = charts["chart-top-resources"]
    assert top["x"] == pytest.approx(
        [round(t, 2) for _, _, t in reversed(top_resources(estate, 10))]
    )
    by_value = {t["name"]: t["y"] for t in charts["chart-options"]}
    for i, option in enumerate(["enableAcceleratedNetworking", "enableIPForwarding"]):
        counts = {r["value"]: r["vms"] for r in vms_by(estate, option)}
        assert [by_value[v][i] for v in ("enabled", "disabled", "mixed")] == [
            counts.get(v, 0) for v in ("enabled", "disabled", "mixed")
        ]


def test_report_screenshot(estate: Data, chromium: str, tmp_path: Path) -> None:
    """A screenshot of the top of the report; KSPYDER_UPDATE_SCREENSHOT=1 refreshes the docs'."""
    page = write_report()
    shot = tmp_path / "report.png"
    run = _browse(chromium, page, f"--screenshot={shot}", "--window-size=1400,1800",
                  home=tmp_path / "profile")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000
    if os.environ.get("KSPYDER_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
    assert SCREENSHOT.exists(), "commit docs/img/report.png (KSPYDER_UPDATE_SCREENSHOT=1)"
