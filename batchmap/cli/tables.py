"""Tables: which columns fit a width, and the two ways a table is drawn — rich's, on a
terminal (colours, hyperlinks), and ``plain_table``, the same bytes rich prints to a pipe
made without rich. ``output.py`` chooses between them; commands describe their columns
with ``Column``. rich is imported only when a table is drawn.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


def format_time(value: dt.datetime) -> str:
    from batchmap.times import shown

    return shown(value)


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


def natural_widths(columns: Sequence[Column], rows: Sequence[Any], compact: bool) -> list[int]:
    from rich.cells import cell_len

    widths = []
    for column in columns:
        cells = [compact_text(column.value(r)) if compact else column.cell(r) for r in rows]
        longest = max(
            (cell_len(line) for cell in cells for line in (cell.splitlines() or [""])),
            default=0,
        )
        widths.append(max(cell_len(column.header), longest))
    return widths


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
        widths = fit(columns, natural_widths(columns, rows, compact), width)
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
                compact_cell(column.value(row)) if compact else Text(column.cell(row))
                for column, _ in shown
            )
        )
    return table


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
    fitted = fit(columns, natural_widths(columns, rows, compact), width) if compact else None
    shown = [
        (c, fitted[i] if fitted else None)
        for i, c in enumerate(columns)
        if not fitted or fitted[i] is not None
    ]
    table = [
        [(compact_text(c.value(r)) if compact else c.cell(r)).split("\n") for c, _ in shown]
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
            text = elide(text, w)
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


def elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis, as rich's ``Text.truncate``."""
    from rich.cells import cell_len, set_cell_size

    return text if cell_len(text) <= width else set_cell_size(text, width - 1) + "…"


def compact_text(value: Any) -> str:
    """A cell as one line (what a fitted table shows)."""
    if value is None:
        return ""
    if _is_links(value):
        return printable(" ".join(label for label, _ in value))
    cell = plain(value)
    return " ".join(cell.split()) if "\n" in cell else cell


def compact_cell(value: Any) -> Any:
    """A fitted table's cell: one line; links as their labels, hyperlinked."""
    from rich.text import Text

    if not _is_links(value):
        return Text(compact_text(value))  # a Text: never read as markup ("[x]" stays)
    text = Text()
    for n, (label, target) in enumerate(value):
        if n:
            text.append(" ")
        text.append(label, style=f"link {as_url(target)}")
    return text


def as_url(target: str) -> str:
    return target if "://" in target else "file://" + target
