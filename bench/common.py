"""Timing and peak-memory measurement of contender commands, run as child processes."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Sample:
    """One run of one contender."""

    wall_s: float
    peak_rss_mb: float
    ok: bool
    tail: str = ""


@dataclass
class Contender:
    """A named shell command (run with bash -c) and an optional setup before each run."""

    name: str
    command: str
    setup: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)

    def median(self) -> float:
        ok = [s.wall_s for s in self.samples if s.ok]
        return statistics.median(ok) if ok else float("nan")

    def peak_mb(self) -> float:
        return max((s.peak_rss_mb for s in self.samples), default=float("nan"))


def run_measured(command: str, env: dict[str, str] | None = None) -> Sample:
    """Run a shell command; wall time and the peak RSS of its largest descendant process."""
    full_env = {**os.environ, **(env or {})}
    started = time.perf_counter()
    proc = subprocess.Popen(
        ["bash", "-c", command], env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = proc.communicate()
    wall = time.perf_counter() - started
    # getrusage(RUSAGE_CHILDREN) keeps the max over all waited-for descendants
    import resource

    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    text = output.decode(errors="replace")
    return Sample(wall, peak_kb / 1024, proc.returncode == 0, text[-2000:])


def run_alternating(contenders: list[Contender], repeats: int) -> None:
    """Run each contender ``repeats`` times, alternating, so drift hits all equally."""
    for i in range(repeats):
        for c in contenders:
            if c.setup:
                subprocess.run(["bash", "-c", c.setup], check=True, capture_output=True)
            sample = run_isolated(c.command, c.env)
            c.samples.append(sample)
            status = "ok" if sample.ok else "FAILED"
            print(
                f"  [{i + 1}/{repeats}] {c.name}: {sample.wall_s:.2f}s "
                f"{sample.peak_rss_mb:.0f} MiB {status}",
                flush=True,
            )
            if not sample.ok:
                print(sample.tail, flush=True)


def run_isolated(command: str, env: dict[str, str] | None = None) -> Sample:
    """Measure in a fresh Python child so RUSAGE_CHILDREN's maximum is per contender run."""
    code = (
        f"import json,sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from bench.common import run_measured; "
        f"s = run_measured({command!r}, {env or {}!r}); print(json.dumps(s.__dict__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    import json

    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(**data)


def machine() -> dict[str, str]:
    """Cores, memory and versions for the report header."""
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    versions = {}
    for mod in ("dlt", "duckdb", "pyarrow", "pandas", "dbt.version", "prefect", "sqlalchemy"):
        try:
            m = __import__(mod, fromlist=["x"])
            versions[mod.split(".")[0]] = getattr(m, "__version__", getattr(m, "version", "?"))
        except ImportError:
            versions[mod] = "n/a"
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": f"{os.cpu_count()} cores ({platform.processor() or platform.machine()})",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "postgres": pg,
        **{k: str(v) for k, v in versions.items()},
    }
