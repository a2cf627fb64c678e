"""Errors that name the file, the line and the key path, with secrets redacted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from extract.secrets import redact


@dataclass(frozen=True)
class Problem:
    """One configuration problem at ``file:line key.path``."""

    file: str
    line: int
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key_path}" if self.key_path else ""
        return redact(f"{where}{key}: {self.message}")


class KspyderError(Exception):
    """Base of every error kspyder raises on purpose; its text is already redacted."""

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ConfigError(KspyderError):
    """A manifest or pipeline file is invalid; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ExtractError(KspyderError):
    """A source or model failed while extracting or loading."""


class ResponseShapeError(ExtractError, ValueError):
    """An API answer lacks the shape the manifest declares (a list, a total, a column)."""


class MissingEnv(KspyderError, KeyError):
    """An ``${ENV}`` reference without default names an unset variable (``args[0]``)."""

    def __str__(self) -> str:
        return f"environment variable {self.args[0]} is not set"


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions behind it, following ``__context__`` only where Python
    would show it (not past a ``raise ... from None``, whose message is the meaningful one)."""
    chain = [exc]
    while True:
        seen = chain[-1]
        nxt = seen.__cause__
        if nxt is None and not seen.__suppress_context__:
            nxt = seen.__context__
        if nxt is None or nxt in chain:
            return chain
        chain.append(nxt)


def root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of the chain (see ``exception_chain``)."""
    return exception_chain(exc)[-1]


def unknown_value(what: str, value: object, allowed: Iterable[object]) -> str:
    """The one wording of "not an allowed value", as dlt's: ``Invalid X: v. Available options``."""
    return f"Invalid {what}: {value}. Available options: {', '.join(map(str, allowed)) or 'none'}"


class UnknownValueError(KspyderError, ValueError):
    """A name that is not one of the allowed ones; the message lists them (as dlt does)."""

    def __init__(self, what: str, value: object, allowed: Iterable[object]) -> None:
        self.what, self.value, self.allowed = what, value, [str(a) for a in allowed]
        super().__init__(unknown_value(what, value, self.allowed))
