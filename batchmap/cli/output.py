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
    html = "html"  # `get execution NAME` only: a self-contained report page


# A table cell holding links: (label, target) pairs. On a terminal the labels are
# shown as hyperlinks; in wide or piped output each is "label target" on its own line.
Links = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Column:
    """A table column: its header, how to get its cell from a row, and how it behaves
    when the table is too wide: ``flex`` columns are elided (…) to fit, ``drop``
    columns (higher first) are left out; ``--wide`` and piped output show everything."""

    header: str
    get: Callable[[Any], Any] | str
    style: str | None = None
    justify: str = "left"
    no_wrap: bool = False
    flex: bool = False
    drop: int = 0

    def value(self, row: Any) -> Any:
        return row.get(self.get) if isinstance(self.get, str) else self.get(row)

    def cell(self, row: Any) -> str:
        return plain(self.value(row))


def plain(value: Any) -> str:
    """A cell's full text (links as "label target", one a line)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_links(value):
        return printable("\n".join(f"{label} {target}" for label, target in value))
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
    return columns(environ) or default


def columns(environ: Mapping[str, str]) -> int | None:
    """``COLUMNS`` when it is a sensible width (ASCII digits, 1-100,000), else None:
    ``abc``, ``0``, ``²`` (a digit to ``str.isdigit``, not to ``int``) are ignored."""
    value = environ.get("COLUMNS", "").strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= 100_000:
        return None
    return int(value)


def _is_links(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and bool(value)
        and all(isinstance(v, tuple) and len(v) == 2 for v in value)
    )


GAP = 3  # between columns: padding, box.SIMPLE_HEAD's blank divider, padding
MIN_FLEX = 8  # the narrowest an elided text column gets
KEEP_FLEX = 30  # columns are left out before a text column gets narrower than this


def fit(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int | None]:
    """Each column's width so the table fits ``width``: None for a dropped column.
    Dropping goes by ``drop`` (highest first); ``flex`` columns then share what is left,
    never below MIN_FLEX; other columns keep their natural width (numbers never shrink)."""
    shown = list(range(len(columns)))
    droppable = sorted(
        (i for i, c in enumerate(columns) if c.drop), key=lambda i: (-columns[i].drop, -i)
    )

    flex = {i for i, c in enumerate(columns) if c.flex}

    def least(i: int, floor: int) -> int:
        return min(natural[i], floor) if i in flex else natural[i]

    def too_wide(floor: int = MIN_FLEX) -> bool:
        return sum(least(i, floor) for i in shown) + GAP * (len(shown) - 1) > width

    dropped = []
    while too_wide(KEEP_FLEX) and droppable:  # text keeps room to be read
        dropped.append(droppable.pop(0))
        shown.remove(dropped[-1])
    for i in reversed(dropped):  # take back the most useful ones that fit after all
        shown.append(i)
        if too_wide(KEEP_FLEX):
            shown.remove(i)
    shown.sort()
    if too_wide():  # a table that says nothing: every text column may be elided
        flex |= {i for i in shown if columns[i].justify == "left"}
    widths: list[int | None] = [None] * len(columns)
    for i in shown:
        widths[i] = natural[i]
    room = width - GAP * (len(shown) - 1) - sum(natural[i] for i in shown if i not in flex)
    flexible = sorted((i for i in shown if i in flex), key=lambda i: natural[i])
    for n, i in enumerate(flexible):  # water-filling: narrow ones keep what they need
        share = max(MIN_FLEX, room // (len(flexible) - n))
        widths[i] = min(natural[i], share)
        room -= widths[i] or 0
    return widths


def format_time(value: dt.datetime) -> str:
    from batchmap.times import shown

    return shown(value)


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

    @staticmethod
    def _natural(columns: Sequence[Column], rows: Sequence[Any], compact: bool) -> list[int]:
        from rich.cells import cell_len

        widths = []
        for column in columns:
            cells = [_compact_text(column.value(r)) if compact else column.cell(r) for r in rows]
            longest = max(
                (cell_len(line) for cell in cells for line in (cell.splitlines() or [""])),
                default=0,
            )
            widths.append(max(cell_len(column.header), longest))
        return widths

    def left_out(self, columns: Sequence[Column], rows: Iterable[Any], width: int) -> list[str]:
        rows = list(rows)
        widths = fit(columns, self._natural(columns, rows, True), width)
        return [c.header for c, w in zip(columns, widths, strict=True) if w is None]

    @staticmethod
    def make_table(
        columns: Sequence[Column],
        rows: Iterable[Any],
        title: str | None = None,
        *,
        width: int | None = None,
        compact: bool = False,
    ) -> Any:
        """A rich table; with ``width``, one line per row that fits it (see ``fit``)."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        rows = list(rows)
        table = Table(
            title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, show_edge=False
        )
        widths: list[int | None] = [0] * len(columns)
        if width is not None:
            widths = fit(columns, Output._natural(columns, rows, compact), width)
        shown = [(c, w) for c, w in zip(columns, widths, strict=True) if w is not None]
        for column, w in shown:
            table.add_column(
                column.header,
                style=column.style,
                justify=column.justify,  # type: ignore[arg-type]
                no_wrap=column.no_wrap or width is not None,
                overflow="ellipsis" if width is not None else "fold",
                width=w or None,
            )
        for row in rows:
            table.add_row(
                *(
                    _compact_cell(column.value(row)) if compact else Text(column.cell(row))
                    for column, _ in shown
                )
            )
        return table

    def fitted_lines(self, lines: Iterable[str]) -> None:
        """Lines to stdout, each elided to the terminal's width (in full when piped or with
        --wide): a header never wraps."""
        lines = [expand_tabs(printable(line)) for line in lines]  # a path may hold anything
        width = self.width
        if width is None:
            self.text("\n".join(lines))
            return
        for line in lines:
            self.stdout.write(_elide(line, width) + "\n")
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


def plain_table(
    columns: Sequence[Column], rows: Sequence[Any], width: int | None, console: int
) -> str | None:
    """The table ``Output.make_table`` gives, as rich prints it to a pipe (no colour, no
    links: plain text), made without rich's console and layout (about 70 ms of a
    command); None where the two could differ (a character ``str.isprintable`` refuses —
    a tab, a control, a zero-width joiner, a line separator —, a line with edge spaces,
    a table wider than the ``console`` width, which rich would squeeze), and rich prints
    it.
    tests/cli/test_output.py holds the two equal on thousands of random tables."""
    from rich.cells import cell_len

    compact = width is not None
    fitted = fit(columns, Output._natural(columns, rows, compact), width) if compact else None
    shown = [
        (c, fitted[i] if fitted else None)
        for i, c in enumerate(columns)
        if not fitted or fitted[i] is not None
    ]
    table = [
        [(_compact_text(c.value(r)) if compact else c.cell(r)).split("\n") for c, _ in shown]
        for r in rows
    ]
    headers = [c.header for c, _ in shown]
    for line in [*headers, *(x for row in table for cell in row for x in cell)]:
        # A tab, a control, a joiner or a line separator: rich's cell widths and line
        # breaks are its own there. Edge spaces: rich may strip them.
        if not line.isprintable() or line != line.strip(" "):
            return None
    widths = []
    for n, (column, fixed) in enumerate(shown):
        if column.justify not in ("left", "right"):
            return None
        natural = max([cell_len(headers[n]), *(cell_len(x) for row in table for x in row[n])])
        widths.append(fixed or natural)
    total = sum(widths) + GAP * (len(widths) - 1)
    if not shown or total > console:
        return None

    def line(cells: Sequence[str]) -> str:
        parts = []
        for text, w, (column, _) in zip(cells, widths, shown, strict=True):
            text = _elide(text, w)
            pad = " " * (w - cell_len(text))
            parts.append(pad + text if column.justify == "right" else text + pad)
        return (" " * GAP).join(parts)

    out = [line(headers), "─" * total]
    for row in table:
        for i in range(max(len(cell) for cell in row)):
            out.append(line([cell[i] if i < len(cell) else "" for cell in row]))
    return "\n".join(out) + "\n"


def expand_tabs(text: str, size: int = 8) -> str:
    """Tabs as spaces to the next stop of ``size`` cells, line by line: what rich prints
    for a tab (``Text.expand_tabs``), counted in cells as it counts them."""
    if "\t" not in text:
        return text
    from rich.cells import cell_len

    lines = []
    for line in text.split("\n"):
        parts = line.split("\t")
        out = ""
        for part in parts[:-1]:
            out += part
            out += " " * (size - cell_len(out) % size)
        lines.append(out + parts[-1])
    return "\n".join(lines)


def _elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis, as rich's ``Text.truncate``."""
    from rich.cells import cell_len, set_cell_size

    return text if cell_len(text) <= width else set_cell_size(text, width - 1) + "…"


def _compact_text(value: Any) -> str:
    """A cell as one line (what a fitted table shows)."""
    if value is None:
        return ""
    if _is_links(value):
        return printable(" ".join(label for label, _ in value))
    cell = plain(value)
    return " ".join(cell.split()) if "\n" in cell else cell


def _compact_cell(value: Any) -> Any:
    """A fitted table's cell: one line; links as their labels, hyperlinked."""
    from rich.text import Text

    if not _is_links(value):
        return Text(_compact_text(value))  # a Text: never read as markup ("[x]" stays)
    text = Text()
    for n, (label, target) in enumerate(value):
        if n:
            text.append(" ")
        text.append(label, style=f"link {_as_url(target)}")
    return text


def _as_url(target: str) -> str:
    return target if "://" in target else "file://" + target


def _talk(text: str) -> str:
    """A message for stderr: no control characters, no password of a URL."""
    return printable(redact(text))
