"""The embedded MongoDB: mongomock persisted as JSON (kspyder before issue 16) against the
SecantusDB wire server kspyder now starts, both with their files under a fresh ``.kspyder/mongo``.

    python -m bench.bench_mongo                          # 100k x 3 runs, 1M x 1 run
    python -m bench.bench_mongo --sizes 20000 --repeats 1 --json bench/out/mongo.json

Per contender and size, in child processes (so each has its own memory): load N cost
documents of the demo cloud's shape (plus the demo subscriptions, virtual networks and VMs),
each demo aggregation (mongo_pipelines/*.yml, default parameters), a rerun upserting the
same N documents, start-up of a new process on the loaded store (first ``count``), and crash
safety: SIGKILL half-way through a load, rerun, count lost and duplicated documents. The
contenders alternate; medians are reported. "mongomock" is ``extract/mongo.py`` as of commit
``LEGACY_COMMIT`` (read with ``git show``), driven through the same public functions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import ROOT, machine

LEGACY_COMMIT = "e8ac73e"  # the last commit whose extract/mongo.py used mongomock
CONTENDERS = ("mongomock", "secantus")
BATCH = 1000


def store(contender: str) -> ModuleType:
    """The ``extract.mongo`` of a contender (no ``MONGODB_URI``: its embedded default)."""
    os.environ.pop("MONGODB_URI", None)
    if contender == "secantus":
        from extract import mongo

        return mongo
    path = Path(tempfile.mkdtemp()) / "legacy_mongo.py"
    path.write_text(
        subprocess.run(
            ["git", "show", f"{LEGACY_COMMIT}:extract/mongo.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    spec = importlib.util.spec_from_file_location("legacy_mongo", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cost_documents(n: int) -> Iterator[dict[str, Any]]:
    """``n`` cost records shaped like the demo's (``demo.cloud.costs``), with distinct ids."""
    from demo import cloud

    template = cloud.costs()
    for k in range(n):
        doc = dict(template[k % len(template)])
        doc["id"] = f"{doc['id']}:{k // len(template)}"
        yield doc


def _load(mongo: ModuleType, n: int, on_batch: Any = None) -> None:
    """What extract.documents does for a merge model: upsert in batches, flush, save state
    (then flush again; mongomock's documents.py flushed once, after the state)."""
    from demo import cloud

    for name, docs in (
        ("subscriptions", cloud.subscriptions()),
        ("virtual_networks", cloud.virtual_networks()),
        ("vms", cloud.vms()),
    ):
        mongo.bulk_upsert("cloud", name, docs, ["id"])
    costs = cost_documents(n)
    done = 0
    while done < n:
        size = min(BATCH * 10, n - done)
        mongo.bulk_upsert("cloud", "costs", (next(costs) for _ in range(size)), ["id"])
        done += size
        if on_batch:
            on_batch(done)
    if hasattr(mongo, "stop_embedded"):  # the wire server: documents durable before state
        mongo.flush("cloud")
    mongo.bulk_upsert("cloud", "_kspyder_state", [{"_id": "costs", "complete": True}], ["_id"])
    mongo.flush("cloud")


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _server_peak_mb(mongo: ModuleType) -> float:
    """Peak RSS of the embedded server's processes (0 for mongomock: it is in-process)."""
    record = mongo.store_dir() / "server.json"
    if not record.exists():
        return 0.0
    pgid = json.loads(record.read_text())["pgid"]
    peak = 0
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.getpgid(int(proc.name)) == pgid:
                status = (proc / "status").read_text()
                peak = max(peak, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            continue
    return peak / 1024


# -- the child processes ---------------------------------------------------------------------
def child_load(contender: str, n: int) -> dict[str, Any]:
    """Start, load, aggregate, rerun; seconds of each and peak memory."""
    from transform.aggregate import load_pipelines, stages_for

    mongo = store(contender)
    result: dict[str, Any] = {"start_s": _timed(lambda: mongo.count("cloud", "costs"))}
    result["load_s"] = _timed(lambda: _load(mongo, n))
    result["aggregations_s"] = {}
    for name, pipeline in load_pipelines().items():
        stages = stages_for(pipeline, {})
        result["aggregations_s"][name] = _timed(
            lambda p=pipeline, s=stages: mongo.aggregate(p.database, p.collection, s)
        )
    result["client_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["server_peak_mb"] = _server_peak_mb(mongo)
    result["store_mb"] = sum(
        f.stat().st_size for f in mongo.store_dir().rglob("*") if f.is_file()
    ) / (1024 * 1024)
    return result


def child_rerun(contender: str, n: int) -> dict[str, Any]:
    """A new process upserting the same documents again (a scheduled rerun)."""
    mongo = store(contender)
    seconds = _timed(lambda: _load(mongo, n))
    return {"rerun_s": seconds, "count": mongo.count("cloud", "costs")}


def child_open(contender: str) -> dict[str, Any]:
    """A new process on the loaded store: time to its first answer."""
    mongo = store(contender)
    seconds = _timed(lambda: mongo.count("cloud", "costs"))
    return {"open_s": seconds, "count": mongo.count("cloud", "costs")}


def child_crash_load(contender: str, n: int) -> dict[str, Any]:
    """Load, printing progress, so the parent can SIGKILL it half-way."""
    mongo = store(contender)
    _load(mongo, n, on_batch=lambda done: print(f"progress {done}", flush=True))
    return {}


def child_check(contender: str, n: int) -> dict[str, Any]:
    """After a kill: rerun the load when its state was not saved; count lost and duplicates."""
    mongo = store(contender)
    found = mongo.read_document("cloud", "_kspyder_state", "costs")
    before = mongo.count("cloud", "costs")
    if not found:
        _load(mongo, n)
    ids = [d["id"] for d in mongo.find("cloud", "costs")]
    expected = {d["id"] for d in cost_documents(n)}
    return {
        "at_kill": before,
        "lost": len(expected - set(ids)),
        "duplicates": len(ids) - len(set(ids)),
        "rerun_needed": not found,
    }


# -- the parent ------------------------------------------------------------------------------
def _child(args: list[str], home: Path, timeout_s: float) -> dict[str, Any]:
    """Run one child measure; ``{"timed_out": seconds}`` when it took longer than allowed."""
    env = {**os.environ, "KSPYDER_HOME": str(home)}
    env.pop("MONGODB_URI", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.bench_mongo", "--child", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        return {"timed_out": timeout_s}
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def crash(contender: str, n: int, home: Path, timeout_s: float) -> dict[str, Any]:
    """SIGKILL a load after half its documents, then rerun and count."""
    env = {**os.environ, "KSPYDER_HOME": str(home)}
    env.pop("MONGODB_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_mongo", "--child", "crash_load", contender, str(n)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("progress") and int(line.split()[1]) >= n // 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _child(["check", contender, str(n)], home, timeout_s)


def one_run(contender: str, n: int, timeout_s: float, measures: set[str]) -> dict[str, Any]:
    """The chosen measures of one contender at one size (load always), in fresh homes."""
    base = Path(tempfile.mkdtemp(prefix="kspyder-bench-mongo-"))
    try:
        result = _child(["load", contender, str(n)], base / "a", timeout_s)
        if "open" in measures:
            result |= _child(["open", contender], base / "a", timeout_s)
        if "rerun" in measures:
            result |= _child(["rerun", contender, str(n)], base / "a", timeout_s)
        if "crash" in measures:
            result["crash"] = crash(contender, n, base / "b", timeout_s)
        return result
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeats", default="3,1", help="runs per size (comma-separated)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "mongo.json")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per child measure")
    parser.add_argument("--measures", default="open,rerun,crash", help="besides the load")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, contender, *rest = args.child
        handlers: dict[str, Callable[..., dict[str, Any]]] = {
            "load": child_load,
            "open": child_open,
            "check": child_check,
            "rerun": child_rerun,
            "crash_load": child_crash_load,
        }
        print(json.dumps(handlers[kind](contender, *map(int, rest))), flush=True)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    repeats = [int(r) for r in args.repeats.split(",")] + [1] * len(sizes)
    report: dict[str, Any] = {"machine": machine(), "load_average": os.getloadavg(), "runs": []}
    for size, times in zip(sizes, repeats, strict=False):
        for _ in range(times):
            for contender in CONTENDERS:  # alternating: drift hits both
                measures = set(args.measures.split(","))
                result = {"contender": contender, "docs": size}
                result |= one_run(contender, size, args.timeout, measures)
                print(json.dumps(result), flush=True)
                report["runs"].append(result)
                args.json.parent.mkdir(parents=True, exist_ok=True)
                args.json.write_text(json.dumps(report, indent=1))
    print(summary(report["runs"]))


def summary(runs: list[dict[str, Any]]) -> str:
    """A Markdown table of medians per contender and size ("> N" where a measure timed out)."""
    rows = [
        "| docs | contender | runs | start s | load s | aggregations s | open s | rerun s | "
        "client / server peak MiB | store MiB | SIGKILL at half: lost / duplicated |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for docs, contender in sorted({(r["docs"], r["contender"]) for r in runs}):
        mine = [r for r in runs if (r["docs"], r["contender"]) == (docs, contender)]
        for r in mine:
            r["aggregations_total_s"] = sum(r.get("aggregations_s", {}).values())
        cells = [_median(mine, f) for f in ("start_s", "load_s", "aggregations_total_s")]
        cells += [_median(mine, f) for f in ("open_s", "rerun_s")]
        peaks = f"{_median(mine, 'client_peak_mb', 0)} / {_median(mine, 'server_peak_mb', 0)}"
        crashes = ", ".join(_crash(r.get("crash", {})) for r in mine)
        rows.append(
            f"| {docs:,} | {contender} | {len(mine)} | {' | '.join(cells)} | {peaks} | "
            f"{_median(mine, 'store_mb', 0)} | {crashes} |"
        )
    return "\n".join(rows)


def _crash(found: dict[str, Any]) -> str:
    if "lost" in found:
        return f"{found['lost']} / {found['duplicates']}"
    return f"> {found['timed_out']:.0f} s" if found else "not run"


def _median(runs: list[dict[str, Any]], field: str, digits: int = 1) -> str:
    values = [r[field] for r in runs if field in r]
    if not values:
        return f"> {max(r.get('timed_out', 0) for r in runs):.0f}"
    return f"{statistics.median(values):.{digits}f}"


if __name__ == "__main__":
    main()
