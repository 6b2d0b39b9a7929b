"""Every table, JSON/YAML dump and message batchmap shows (only ``cli/`` calls this).

stdout carries data, stderr carries talk (progress, warnings, hints). The
format (``-o table|json|yaml``) is chosen once per run. JSON and YAML print
whole objects with ISO-8601 UTC times; tables are for people. Colour is off
when a stream is not a terminal or ``NO_COLOR`` is set. rich is imported only
when something is drawn, so ``--help`` stays fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any, TextIO

from batchmap.errors import Problem
from batchmap.redact import redact


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


@dataclass(frozen=True)
class Column:
    """A table column: its header and how to get its cell from a row."""

    header: str
    get: Callable[[Any], Any] | str
    style: str | None = None
    justify: str = "left"
    no_wrap: bool = False

    def cell(self, row: Any) -> str:
        value = row.get(self.get) if isinstance(self.get, str) else self.get(row)
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            return format_time(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list | tuple):
            return printable(", ".join(str(v) for v in value))
        return printable(str(value))


# C0 controls but tab and newline, DEL and C1 controls: what a terminal would obey.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character a terminal would obey shown as ``\\xNN``: a
    child's output or a stored reason can colour, retitle or clear no one's terminal."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def terminal_width(environ: Mapping[str, str], default: int) -> int:
    """``COLUMNS`` when it is a sensible width, else ``default`` (``COLUMNS=abc`` is no
    reason to fail)."""
    value = environ.get("COLUMNS", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= 100_000 else default


def format_time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default, ensure_ascii=False)


def to_yaml(data: Any) -> str:
    import io

    from ruamel.yaml import YAML

    plain = json.loads(json.dumps(data, default=_json_default))
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    stream = io.StringIO()
    yaml.dump(plain, stream)
    return stream.getvalue()


class Output:
    """Renders data to stdout and messages to stderr in the chosen format."""

    def __init__(
        self,
        fmt: OutputFormat,
        stdout: TextIO,
        stderr: TextIO,
        environ: Mapping[str, str],
    ) -> None:
        self.format = fmt
        self.stdout = stdout
        self.stderr = stderr
        self.environ = environ

    def _console(self, stream: TextIO, *, soft_wrap: bool = False) -> Any:
        from rich.console import Console

        is_tty = bool(getattr(stream, "isatty", lambda: False)())
        no_color = "NO_COLOR" in self.environ or not is_tty
        # Piped output is for grep and logs: never fold a row unless COLUMNS asks to.
        width = None if is_tty else terminal_width(self.environ, 1000)
        return Console(
            file=stream,
            no_color=no_color,
            color_system=None if no_color else "auto",
            highlight=False,
            width=width,
            soft_wrap=soft_wrap,
        )

    @cached_property
    def out(self) -> Any:
        return self._console(self.stdout)

    @cached_property
    def err(self) -> Any:
        # Messages stay one line each (grep-able in CI logs); the terminal wraps them.
        return self._console(self.stderr, soft_wrap=True)

    # data ---------------------------------------------------------------
    def data(
        self,
        obj: Any,
        *,
        columns: Sequence[Column] | None = None,
        rows: Iterable[Any] | None = None,
        title: str | None = None,
    ) -> None:
        """Print ``obj`` as JSON/YAML, or ``rows`` (default: obj) as a table."""
        if self.format is OutputFormat.json:
            self.stdout.write(to_json(obj) + "\n")
        elif self.format is OutputFormat.yaml:
            self.stdout.write(to_yaml(obj))
        else:
            assert columns is not None, "a table needs columns"
            self.table(columns, rows if rows is not None else obj, title=title)
        self.stdout.flush()

    def table(
        self, columns: Sequence[Column], rows: Iterable[Any], title: str | None = None
    ) -> None:
        self.out.print(self.make_table(columns, rows, title))

    @staticmethod
    def make_table(columns: Sequence[Column], rows: Iterable[Any], title: str | None = None) -> Any:
        from rich import box
        from rich.table import Table

        table = Table(
            title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False
        )
        for column in columns:
            table.add_column(
                column.header,
                style=column.style,
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=column.no_wrap,
                overflow="fold",
            )
        for row in rows:
            table.add_row(*(column.cell(row) for column in columns))
        return table

    def text(self, text: str) -> None:
        """Plain text to stdout (e.g. a generated file printed instead of written)."""
        self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    @property
    def interactive(self) -> bool:
        """True when stderr is a terminal: live views replace line-by-line progress."""
        return bool(getattr(self.stderr, "isatty", lambda: False)())

    @contextlib.contextmanager
    def live(self) -> Iterator[Callable[[Any], None]]:
        """A live view on stderr (a no-op updater when stderr is not a terminal)."""
        if not self.interactive:
            yield lambda _renderable: None
            return
        from rich.live import Live

        with Live(console=self.err, refresh_per_second=4, transient=False) as view:
            yield view.update

    def lines(self, lines: Iterable[str]) -> None:
        """Plain lines to stdout (log lines), flushed as they come; on a terminal, with
        their control characters shown, not obeyed (piped, they pass as written)."""
        tty = bool(getattr(self.stdout, "isatty", lambda: False)())
        for line in lines:
            self.stdout.write((printable(line) if tty else line) + "\n")
        self.stdout.flush()

    # talk ---------------------------------------------------------------
    def info(self, message: str) -> None:
        self.err.print(_talk(message), markup=False)

    def success(self, message: str) -> None:
        self.err.print(f"[green]✓[/green] {_escape(message)}")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def error(self, message: str) -> None:
        self.err.print(f"[red]error:[/red] {_escape(message)}")

    def hint(self, message: str) -> None:
        self.err.print(f"[dim]hint:[/dim] {_escape(message)}")

    def problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            (self.warn if problem.warning else self.error)(str(problem))


def _talk(text: str) -> str:
    """A message for stderr: no control characters, no password of a URL."""
    return printable(redact(text))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(_talk(text))
