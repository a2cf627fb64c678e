"""Valid manifest and pipeline trees to mutate, and checks of the errors they must give.

Shared by the generated (``test_hostile_config.py``) and hand-written hostile input tests
(``test_hostile_yaml.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from extract.errors import ConfigError

Tree = dict[str, Any]
Path_ = tuple[str | int, ...]

REST: Tree = {
    "kind": "rest",
    "description": "generated",
    "schema_contract": "evolve",
    "client": {
        "base_url": "http://127.0.0.1:9",
        "timeout": 5,
        "auth": {"type": "bearer", "token": "${REL_TOKEN}"},
        "paginator": {"type": "page_number", "total_pages_path": "meta.pages"},
        "rate_limit": {"requests_per_second": 5, "burst": 2},
        "retry": {"max_attempts": 3, "backoff_factor": 0.1, "statuses": [429, 503]},
    },
    "defaults": {"write_disposition": "merge", "primary_key": "id"},
    "models": {
        "customers": {
            "endpoint": {
                "path": "/customers",
                "params": {"per_page": 10},
                "data_selector": "data",
                "concurrency": 2,
            },
            "columns": {"email": "hash", "phone": {"pii": "mask", "type": "text"}},
        },
        "contacts": {
            "endpoint": {
                "path": "/customers/{customers.id}/contacts",
                "method": "GET",
                "response_actions": [{"status_code": 404, "action": "ignore"}],
            },
            "include_from_parent": ["id"],
            "write_disposition": "append",
        },
        "deals": {
            "endpoint": {
                "path": "/deals",
                "paginator": {"type": "cursor", "cursor_path": "next", "cursor_param": "c"},
            },
            "incremental": {
                "cursor": "updated_at",
                "param": "since",
                "initial_value": "2024-01-01T00:00:00Z",
                "lookback": 60,
                "row_order": "asc",
            },
        },
    },
}
SQL: Tree = {
    "kind": "sql",
    "target": "warehouse",
    "connection": {
        "url": "sqlite:///${KSPYDER_HOME}/x.sqlite",
        "chunk_size": 1000,
        "backend": "pyarrow",
    },
    "defaults": {"write_disposition": "merge"},
    "models": {
        "orders": {
            "primary_key": ["order_id"],
            "incremental": {"cursor": "updated_at", "initial_value": "2000-01-01 00:00:00"},
            "columns": {"iban": "drop", "email": {"pii": "hash", "description": "x"}},
        },
        "events": {"table": "invoices", "write_disposition": "append"},
        "big": {"query": "select 1 as id", "write_disposition": "replace"},
    },
}
PIPELINE: Tree = {
    "description": "generated",
    "database": "cloud",
    "collection": "vms",
    "params": {
        "option": {"type": "string", "default": "patch_mode", "choices": ["patch_mode", "x"]},
        "n": {"type": "int", "default": 10},
    },
    "stages": [
        {"$match": {"kind": "vm"}},
        {"$group": {"_id": "$options.{{ option }}", "vms": {"$sum": 1}}},
        {"$limit": "{{ n }}"},
    ],
    "outputs": [{"format": "json"}, {"format": "warehouse", "table": "vms_by_option"}],
    "test": {
        "params": {"option": "patch_mode"},
        "fixture": [{"kind": "vm", "options": {"patch_mode": "auto"}}],
        "expected": [{"_id": "auto", "vms": 1}],
    },
}

# -- mutation helpers ---------------------------------------------------------------------------


def get_at(tree: Any, path: Path_) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def set_at(tree: Any, path: Path_, value: Any) -> None:
    get_at(tree, path[:-1])[path[-1]] = value


def paths_of(tree: Any, prefix: Path_ = ()) -> list[Path_]:
    found: list[Path_] = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.append((*prefix, key))
            found += paths_of(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            found.append((*prefix, i))
            found += paths_of(value, (*prefix, i))
    return found


def dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def write_tree(folder: Path, name: str, tree: Any) -> Path:
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def matches(problem: str, target: str) -> bool:
    """A problem at the target, inside it, at a parent, or where defaults were merged."""
    if problem == target or problem.startswith(target + ".") or target.startswith(problem + "."):
        return True
    if target.startswith("defaults."):
        rest = target.removeprefix("defaults.")
        return bool(re.fullmatch(rf"models\.[^.]+\.{re.escape(rest)}(\..*)?", problem))
    return False


# Known gap: Source-level checks (kind needs connection/client) are reported without a key path.
TOP_LEVEL_GAP = re.compile(r"kind '\w+' needs a (connection|client)")


def well_formed(exc: ConfigError, path: Path) -> list[str]:
    """What is wrong with the error's shape (empty when every problem names file:line key)."""
    wrong = []
    text = str(exc)
    for problem in exc.problems:
        if problem.file != str(path) and not str(path).endswith(problem.file):
            wrong.append(f"wrong file: {problem.file}")
        if problem.line < 1:
            wrong.append(f"no line: {problem}")
        if not problem.key_path and not TOP_LEVEL_GAP.search(problem.message):
            wrong.append(f"no key path: {problem}")
        if f"{problem.file}:{problem.line}" not in text:
            wrong.append(f"file:line not in the text: {problem}")
    return wrong


def outcome(parse: Callable[[Path], Any], path: Path) -> ConfigError | None:
    """None when the file is valid; the ConfigError otherwise; any other exception fails."""
    try:
        parse(path)
    except ConfigError as exc:
        return exc
    return None
