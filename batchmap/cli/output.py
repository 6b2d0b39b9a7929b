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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from enum import Enum
from functools import cached_property
from typing import Any, TextIO

from batchmap.cli.tables import (
    Column,
    elide,
    expand_tabs,
    fit,
    format_time,
    make_table,
    natural_widths,
    plain_table,
    printable,
)
from batchmap.errors import Problem
from batchmap.redact import redact


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    html = "html"  # `get execution NAME` only: a self-contained report page


def terminal_width(environ: Mapping[str, str], default: int) -> int:
    """``COLUMNS`` when it is a sensible width, else ``default`` (``COLUMNS=abc`` is no
    reason to fail)."""
    return columns(environ) or default


def columns(environ: Mapping[str, str]) -> int | None:
    """``COLUMNS`` when it is a sensible width (ASCII digits, 1-100,000), else None:
    ``abc``, ``0``, ``²`` (a digit to ``str.isdigit``, not to ``int``) are ignored."""
    value = environ.get("COLUMNS", "").strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= 100_000:
        return None
    return int(value)


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
        *,
        wide: bool = False,
    ) -> None:
        self.format = fmt
        self.stdout = stdout
        self.stderr = stderr
        self.environ = environ
        self.wide = wide

    @staticmethod
    def _is_tty(stream: TextIO) -> bool:
        return bool(getattr(stream, "isatty", lambda: False)())

    def _piped_width(self) -> int:
        # Piped output is for grep and logs: never fold a row unless COLUMNS asks to.
        return 1000 if self.wide else terminal_width(self.environ, 1000)

    def _console(self, stream: TextIO, *, soft_wrap: bool = False) -> Any:
        from rich.console import Console

        is_tty = self._is_tty(stream)
        no_color = "NO_COLOR" in self.environ or not is_tty
        width = None if is_tty else self._piped_width()
        return Console(
            file=stream,
            no_color=no_color,
            color_system=None if no_color else "auto",
            highlight=False,
            emoji=False,  # ":smile:" in a reason or an item is text, not 😄
            width=width,
            soft_wrap=soft_wrap,
        )

    @cached_property
    def out(self) -> Any:
        return self._console(self.stdout)

    @cached_property
    def err(self) -> Any:
        # In logs, messages stay one line each (grep-able); on a terminal they wrap at
        # words within its width.
        is_tty = self._is_tty(self.stderr)
        return self._console(self.stderr, soft_wrap=not is_tty)

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
        if self.format is OutputFormat.html:
            from batchmap.errors import UsageError

            raise UsageError(
                "-o html is for one execution: batchmap get execution -p P -d D NAME -o html"
            )
        if self.format is OutputFormat.json:
            self.stdout.write(to_json(obj) + "\n")
        elif self.format is OutputFormat.yaml:
            self.stdout.write(to_yaml(obj))
        else:
            assert columns is not None, "a table needs columns"
            self.table(columns, rows if rows is not None else obj, title=title)
        self.stdout.flush()

    @property
    def width(self) -> int | None:
        """The width tables must fit: the terminal's, or COLUMNS; None when piped (rows
        are never folded for grep) or with --wide."""
        if self.wide:
            return None
        is_tty = self._is_tty(self.stdout)
        if is_tty:
            return int(self.out.width)
        return columns(self.environ)

    def table(
        self, columns: Sequence[Column], rows: Iterable[Any], title: str | None = None
    ) -> None:
        rows = list(rows)
        width = self.width
        piped = None if title or self._is_tty(self.stdout) else self._piped_width()
        text = None if piped is None else plain_table(columns, rows, width, piped)
        if text is not None:  # what rich would print, without loading it (plain_table)
            self.stdout.write(text)
            self.stdout.flush()
        else:
            self.out.print(self.make_table(columns, rows, title, width=width, compact=bool(width)))
        if width is not None and rows:
            left_out = self.left_out(columns, rows, width)
            if left_out:
                self.hint(f"{', '.join(left_out)} left out to fit {width} columns (--wide)")

    def talk_table(self, columns: Sequence[Column], rows: Iterable[Any]) -> None:
        """A table among the messages on stderr (e.g. the failed children of a summary),
        fitted to the terminal there; one line a row in logs."""
        rows = list(rows)
        is_tty = self._is_tty(self.stderr)
        width = int(self.err.width) if is_tty else None
        self.err.print(
            self.make_table(columns, rows, width=width, compact=True), soft_wrap=not is_tty
        )

    def left_out(self, columns: Sequence[Column], rows: Iterable[Any], width: int) -> list[str]:
        rows = list(rows)
        widths = fit(columns, natural_widths(columns, rows, True), width)
        return [c.header for c, w in zip(columns, widths, strict=True) if w is None]

    make_table = staticmethod(make_table)

    def fitted_lines(self, lines: Iterable[str]) -> None:
        """Lines to stdout, each elided to the terminal's width (in full when piped or with
        --wide): a header never wraps."""
        lines = [expand_tabs(printable(line)) for line in lines]  # a path may hold anything
        width = self.width
        if width is None:
            self.text("\n".join(lines))
            return
        for line in lines:
            self.stdout.write(elide(line, width) + "\n")
        self.stdout.flush()

    def text(self, text: str) -> None:
        """Plain text to stdout (e.g. a generated file printed instead of written)."""
        self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    @property
    def interactive(self) -> bool:
        """True when stderr is a terminal: live views replace line-by-line progress."""
        return self._is_tty(self.stderr)

    @cached_property
    def live_console(self) -> Any:
        """The console of live views: stderr, cropped to the terminal (never soft-wrapped)."""
        return self._console(self.stderr)

    @contextlib.contextmanager
    def live(self, renderable: Any) -> Iterator[Callable[[], None]]:
        """A live view of ``renderable`` on stderr, redrawn four times a second (it measures
        the terminal each time); yields a function that redraws at once."""
        from rich.live import Live

        with Live(
            renderable,
            console=self.live_console,
            refresh_per_second=4,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
            vertical_overflow="crop",
        ) as view:
            yield view.refresh

    def lines(self, lines: Iterable[str]) -> None:
        """Plain lines to stdout (log lines), flushed as they come; on a terminal, with
        their control characters shown, not obeyed (piped, they pass as written)."""
        tty = self._is_tty(self.stdout)
        for line in lines:
            self.stdout.write((printable(line) if tty else line) + "\n")
        self.stdout.flush()

    # talk ---------------------------------------------------------------
    def info(self, message: str) -> None:
        self._say("", "", message)

    def success(self, message: str) -> None:
        self._say("✓", "green", message)

    def warn(self, message: str) -> None:
        self._say("warning:", "yellow", message)

    def error(self, message: str) -> None:
        self._say("error:", "red", message)

    def hint(self, message: str) -> None:
        self._say("hint:", "dim", message)

    def _say(self, label: str, style: str, message: str) -> None:
        """One message on stderr, as given (never markup or emoji codes). In a log or a
        pipe: one plain line, without loading rich. On a terminal: the label coloured,
        the message wrapped at words within its width."""
        text = _talk(message)
        if not self.interactive:
            self.stderr.write(expand_tabs(f"{label} {text}" if label else text) + "\n")
            self.stderr.flush()
            return
        from rich.text import Text

        line = Text(text) if not label else Text.assemble((label, style), " ", text)
        self.err.print(line)

    def problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            (self.warn if problem.warning else self.error)(str(problem))


def _talk(text: str) -> str:
    """A message for stderr: no control characters, no password of a URL."""
    return printable(redact(text))
