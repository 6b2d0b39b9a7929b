"""Every error a user can cause, each with its exit code (DESIGN.md §5).

Library code raises these; only ``batchmap.cli.app.main`` turns them into a
message on stderr and an exit status. A message is one line saying what is
wrong and where; a hint, when there is one, says how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes. Pinned by ``tests/test_errors.py``."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INVALID_INPUT = 3
    NOT_FOUND = 4
    AWS_REFUSED = 5
    AWS_SERVICE = 6
    BELOW_SUCCESS_RATIO = 7
    INTERRUPTED = 130


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a file a user wrote."""

    message: str
    file: str | None = None
    path: str = ""
    line: int | None = None
    hint: str | None = None
    warning: bool = False

    def where(self) -> str:
        place = self.file or ""
        if self.file and self.line is not None:
            place = f"{self.file}:{self.line}"
        if self.path:
            place = f"{place}: {self.path}" if place else self.path
        return place

    def __str__(self) -> str:
        where = self.where()
        text = f"{where}: {self.message}" if where else self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": "warning" if self.warning else "error",
        }


class BatchmapError(Exception):
    """Base of every error batchmap reports to a user."""

    exit_code: ExitCode = ExitCode.ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def lines(self) -> list[str]:
        """What the CLI prints on stderr, one problem a line."""
        return [self.message]


class UsageError(BatchmapError):
    """The command line cannot be used as given: an option value outside its vocabulary
    or syntax (``-o xml``, ``--status FAILD``, ``--index 3-``, an index the execution
    does not have), options that exclude each other, a missing choice. Exit 2, as
    typer's own usage errors (docs/exit-codes.md)."""

    exit_code = ExitCode.USAGE


class Interrupted(BatchmapError):
    """Ctrl-C (or SIGTERM) ended a command; the message says what goes on (exit 130)."""

    exit_code = ExitCode.INTERRUPTED


class InvalidInputError(BatchmapError):
    """A config, launch plan, exec file, input, role ARN or service account is wrong."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: Sequence[Problem] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = [p for p in problems if not p.warning]
        self.warnings = [p for p in problems if p.warning]

    @classmethod
    def from_problems(cls, problems: Iterable[Problem], what: str) -> InvalidInputError:
        problems = list(problems)
        errors = [p for p in problems if not p.warning]
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        return cls(f"{what}: {count}", problems=problems)

    def lines(self) -> list[str]:
        if not self.problems:
            return [self.message]
        if len(self.problems) == 1:
            return [str(self.problems[0])]
        return [str(p) for p in self.problems] + [self.message]


class NotFoundError(BatchmapError):
    """A launch plan, version, execution or queue does not exist."""

    exit_code = ExitCode.NOT_FOUND


class AwsRefusedError(BatchmapError):
    """AWS said no: credentials, permissions, a disabled or invalid queue."""

    exit_code = ExitCode.AWS_REFUSED


class AwsServiceError(BatchmapError):
    """An AWS error that outlived botocore's retries (throttling, 5xx, network)."""

    exit_code = ExitCode.AWS_SERVICE


class BelowSuccessRatioError(BatchmapError):
    """The execution finished with fewer successes than its minimum ratio."""

    exit_code = ExitCode.BELOW_SUCCESS_RATIO


class StorageWriteError(BatchmapError):
    """A file could not be written: a full disk, an exceeded quota, a read-only filesystem.

    Exit 3 like other problems the user fixes on their side (free space, or point
    ``storage:``/``registry:`` elsewhere); nothing is left half-written.
    """

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path
