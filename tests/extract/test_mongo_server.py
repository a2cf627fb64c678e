"""The embedded default (no ``MONGODB_URI``): the SecantusDB server kspyder starts and stops.

Each test has its own ``KSPYDER_HOME``, so its own store and server on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo import cloud
from demo.api import DemoApi
from extract import mongo, mongo_server
from extract.mongo_watchdog import alive
from extract.project import ROOT


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test here runs on the embedded default, and stops what it started."""
    monkeypatch.delenv("MONGODB_URI")
    yield
    mongo.stop_embedded()


def _record(home: Path) -> dict[str, int]:
    data: dict[str, int] = json.loads((home / "mongo" / "server.json").read_text())
    return data


def _gone(pgid: int, within_s: float = 20) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, text=True, stdout=subprocess.PIPE, **kwargs
    )


def test_started_on_first_use_shared_with_a_second_process_stopped_at_exit(
    kspyder_home: Path,
) -> None:
    assert mongo.is_embedded()
    mongo.bulk_upsert("db", "t", [{"id": i} for i in range(3)], ["id"])
    record = _record(kspyder_home)
    assert record["owner"] == os.getpid()
    assert alive(record["pgid"])
    child = _python(
        "from extract import mongo\n"
        "print(mongo.count('db', 't'))\n"
        "mongo.bulk_upsert('db', 't', [{'id': 9}], ['id'])\n"
    )
    assert child.communicate(timeout=60)[0].strip() == "3"  # the same server, reused
    assert alive(record["pgid"])  # the child did not stop a server it did not start
    assert mongo.count("db", "t") == 4
    mongo.stop_embedded()
    assert _gone(record["pgid"])
    assert not (kspyder_home / "mongo" / "server.json").exists()
    assert mongo.count("db", "t") == 4  # a new server on the same files


def test_a_killed_run_never_leaves_its_server_and_loses_no_flushed_write(
    kspyder_home: Path,
) -> None:
    child = _python(
        "import time\n"
        "from extract import mongo\n"
        "mongo.bulk_upsert('db', 't', [{'id': i} for i in range(2000)], ['id'])\n"
        "mongo.flush()\n"
        "print('written', flush=True)\n"
        "time.sleep(600)\n"
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "written"
    stale = _record(kspyder_home)
    child.send_signal(signal.SIGKILL)  # no atexit: the watchdog must stop the server
    child.wait()
    assert _gone(stale["pgid"]), "the embedded server outlived the kspyder process"
    assert mongo.count("db", "t") == 2000  # stale record replaced, every write there
    assert _record(kspyder_home)["owner"] == os.getpid()


def test_a_stale_record_of_a_live_orphan_server_is_cleaned_up(kspyder_home: Path) -> None:
    folder = kspyder_home / "mongo"
    orphan = mongo_server.start(folder)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = {"owner": int(dead.stdout), "pgid": orphan.pgid, "port": orphan.port}
    (folder / "server.json").write_text(json.dumps(stale))
    mongo.insert("db", "t", [{"a": 1}])  # must not reuse a server whose owner is gone
    assert orphan.pgid is not None
    assert _gone(orphan.pgid)
    assert _record(kspyder_home)["port"] != orphan.port
    assert mongo.count("db", "t") == 1


def test_no_wire_server_module_but_mongo_speaks_pymongo() -> None:
    """Only extract/mongo.py imports pymongo or bson in product code."""
    speakers = sorted(
        str(path.relative_to(ROOT))
        for folder in ("extract", "transform", "flows", "demo")
        for path in (ROOT / folder).rglob("*.py")
        if any(
            line.startswith(("import pymongo", "from pymongo", "from bson", "import bson"))
            for line in path.read_text().splitlines()
        )
    )
    assert speakers == ["extract/mongo.py"]


def _kspyder(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_corrupted_store_names_the_rebuild_and_rebuild_restores_it(
    cloud_api: DemoApi, kspyder_home: Path
) -> None:
    first = _kspyder("documents", "load", "cloud")
    assert first.returncode == 0, first.stdout + first.stderr
    expected = mongo.collection_counts("cloud")
    assert expected["vms"] == cloud.VM_COUNT
    mongo.stop_embedded()
    for table in (kspyder_home / "mongo" / "data").glob("secantus_documents*.wt"):
        with table.open("r+b") as handle:
            handle.write(b"\0" * 4096)  # the block manager's header: unreadable
    broken = _kspyder("documents", "load", "cloud")
    output = broken.stdout + broken.stderr
    assert broken.returncode == 1, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if "error:" in line]
    assert len(errors) == 1, output
    assert "run `kspyder rebuild cloud`" in errors[0], output
    assert "is lost or corrupted" in errors[0]
    rebuilt = _kspyder("rebuild", "cloud")
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert mongo.collection_counts("cloud") == expected
    assert list((kspyder_home / "mongo").glob("data.damaged-*"))  # kept aside, not deleted


def test_one_shot_runs_start_the_server_early_and_stop_it(
    kspyder_home: Path, monkeypatch: pytest.MonkeyPatch, mongodb_uri: str
) -> None:
    with mongo.embedded_server():
        assert mongo.count("db", "t") == 0
        record = _record(kspyder_home)
    assert _gone(record["pgid"])
    assert not (kspyder_home / "mongo" / "server.json").exists()
    monkeypatch.setenv("MONGODB_URI", mongodb_uri)
    with mongo.embedded_server():  # a configured server: nothing started
        mongo.insert("db", "t", [{"a": 1}])
        assert not (kspyder_home / "mongo" / "server.json").exists()
    assert mongo.describe().startswith("mongodb://127.0.0.1:")


def test_missing_store_files_are_reported_as_damage(kspyder_home: Path) -> None:
    mongo.insert("db", "t", [{"a": 1}])
    mongo.stop_embedded()
    for table in (kspyder_home / "mongo" / "data").glob("secantus_documents*.wt"):
        table.unlink()  # the server would start and answer with nothing
    with pytest.raises(mongo.StoreDamaged, match=r"is lost or corrupted .*kspyder rebuild"):
        mongo.count("db", "t")
    assert not (kspyder_home / "mongo" / "server.json").exists()  # nothing left running
    assert mongo.reset_embedded_store() is not None
    assert mongo.count("db", "t") == 0  # an empty store: the rebuild reloads it
