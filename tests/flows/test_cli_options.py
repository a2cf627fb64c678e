"""The command line's vocabulary: one meaning per option in every command."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from flows.cli import build_app

runner = CliRunner()


def _help(*command: str) -> str:
    result = runner.invoke(build_app(), [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return re.sub(r"\x1b\[[0-9;]*m", "", result.output)


def _short(text: str, long: str) -> str | None:
    """The short flag shown with ``long`` in a help text, if any."""
    match = re.search(rf"{re.escape(long)}\s+(-\w)\b", text)
    return match.group(1) if match else None


@pytest.mark.parametrize(
    ("long", "short", "commands"),
    [
        ("--select", "-s", [("transform",), ("run",)]),
        ("--param", "-p", [("run",), ("aggregate", "run"), ("aggregate", "explain")]),
        ("--warehouse", "-w", [("extract",), ("rebuild",), ("transform",), ("run",)]),
        ("--model", "-m", [("extract",), ("documents", "load")]),
    ],
)
def test_an_option_means_the_same_everywhere(
    long: str, short: str, commands: list[tuple[str, ...]]
) -> None:
    for command in commands:
        assert _short(_help(*command), long) == short, command


def test_sources_are_positional_and_the_warehouse_variable_is_shown() -> None:
    for command in ("extract", "rebuild", "run"):
        text = _help(command)
        assert "sources..." in text.lower(), command
        assert "--source " not in text, command
        assert "env var: KSPYDER_WAREHOUSE" in text, command


def test_to_is_a_choice_and_aggregate_has_subcommands() -> None:
    assert "json|csv|parquet" in _help("extract")
    wrong = runner.invoke(build_app(), ["extract", "--to", "xml"], env={"COLUMNS": "200"})
    assert wrong.exit_code == 2
    assert "'json', 'csv', 'parquet'" in wrong.output
    text = _help("aggregate")
    for sub in ("run", "list", "test", "explain"):
        assert re.search(rf"^\W*{sub}\s", text, re.M), sub
