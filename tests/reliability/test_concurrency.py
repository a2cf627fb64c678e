"""Two ``kspyder extract`` processes on one source at once: one waits or fails clearly.

``tests/flows/test_flows.py::test_second_run_on_a_locked_source_fails_clearly`` holds the lock
from a helper process and calls ``extract_source`` in-process; here two real CLI runs overlap:
one with ``KSPYDER_LOCK_WAIT=0`` must fail at once naming the holder, one with a long wait
must queue behind the first and succeed, and the state must come out whole.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from extract import project
from extract.warehouse import resolve
from tests.helpers import write_manifest
from tests.reliability.helpers import (
    ERP_MERGE,
    child_env,
    cli,
    count_and_distinct,
    cursor,
    pending_packages,
)

pytestmark = pytest.mark.slow
ORDERS = 100_000


def _lock_holder() -> str:
    path = project.home() / "locks" / "erp.lock"
    return path.read_text().strip() if path.exists() else ""


def _start(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli("extract", "erp"),
        cwd=project.ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_runs_at_once_one_fails_clearly_one_waits(
    tmp_path: Path, manifests_dir: Path, reliability: Any
) -> None:
    from demo.erp import build_erp

    db = tmp_path / "erp.sqlite"
    build_erp(db, customers=300, products=20, orders=ORDERS)
    write_manifest(manifests_dir, "erp", ERP_MERGE.format(db=db, chunk=5000))
    first = _start()
    deadline = time.monotonic() + 120
    while _lock_holder() != f"pid {first.pid}" and first.poll() is None:
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.01)
    impatient = _start(KSPYDER_LOCK_WAIT="0")
    patient = _start(KSPYDER_LOCK_WAIT="300")
    _, impatient_err = impatient.communicate(timeout=300)
    _, first_err = first.communicate(timeout=300)
    _, patient_err = patient.communicate(timeout=300)
    last_holder = _lock_holder()

    warehouse = resolve()
    counts = {
        "orders": count_and_distinct(warehouse, "erp.orders", "order_id"),
        "customers": count_and_distinct(warehouse, "erp.customers", "customer_id"),
    }
    expected = {"orders": ORDERS, "customers": 300}
    lost = sum(expected[m] - d for m, (_, d) in counts.items())
    dups = sum(c - d for c, d in counts.values())
    flat = " ".join(impatient_err.split())
    busy = f"source 'erp' is being loaded by pid {first.pid}" in flat
    waited = patient.returncode == 0 and last_holder == f"pid {patient.pid}"
    reliability.record(
        case="two CLI runs on one source at once",
        injected="while `kspyder extract erp` loads, a second one with KSPYDER_LOCK_WAIT=0 and "
        "a third with KSPYDER_LOCK_WAIT=300",
        expected="the impatient run exits 1 naming the holder's pid; the patient one waits, "
        "then loads; rows exact, no pending package",
        faults=2,
        survived=int(busy and first.returncode == 0 and waited and lost == dups == 0),
        rows_lost=lost,
        duplicates=dups,
        notes="the refusal is a Python traceback ending in SourceBusy"
        if "Traceback" in impatient_err
        else "the refusal is a one-line error",
    )
    assert impatient.returncode == 1, impatient_err[-2000:]
    assert busy, impatient_err[-2000:]
    assert "KSPYDER_LOCK_WAIT" in flat
    assert first.returncode == 0, first_err[-2000:]
    assert patient.returncode == 0, patient_err[-2000:]
    assert waited, f"the lock was last held by {last_holder}, not the patient run"
    assert counts == {m: (n, n) for m, n in expected.items()}
    assert pending_packages("erp") == ([], [])
    assert cursor("erp", "orders") is not None
