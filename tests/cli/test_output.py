"""What tables and messages print is the text given: never read as rich markup or emoji
codes, piped or on a terminal width."""

from __future__ import annotations

import io
import random

import pytest

from batchmap.cli.output import Output, OutputFormat
from batchmap.cli.tables import Column, plain_table

HOSTILE = ["exited [x]", "[bold]loud[/bold]", "[/]", "a :smile: b", "[link=http://e]y[/link]"]


@pytest.mark.parametrize("environ", [{}, {"COLUMNS": "200"}], ids=["piped", "fitted"])
def test_table_cells_are_shown_as_given(environ: dict[str, str]) -> None:
    stdout = io.StringIO()
    out = Output(OutputFormat.table, stdout, io.StringIO(), environ)
    columns = [Column("INDEX", "index", justify="right"), Column("REASON", "reason", flex=True)]
    out.table(columns, [{"index": i, "reason": r} for i, r in enumerate(HOSTILE)])
    lines = [line.strip() for line in stdout.getvalue().splitlines()]
    for i, reason in enumerate(HOSTILE):
        assert any(line.split(maxsplit=1) == [str(i), reason] for line in lines), reason


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stream", [io.StringIO, _Terminal], ids=["piped", "terminal"])
def test_messages_are_shown_as_given(stream: type[io.StringIO]) -> None:
    stderr = stream()
    out = Output(OutputFormat.table, io.StringIO(), stderr, {"NO_COLOR": "1", "COLUMNS": "200"})
    for say in (out.info, out.success, out.warn, out.error, out.hint):
        for message in HOSTILE:
            say(message)
    labels = ["", "✓ ", "warning: ", "error: ", "hint: "]
    assert stderr.getvalue().splitlines() == [label + m for label in labels for m in HOSTILE]


def test_messages_in_a_pipe_do_not_load_rich() -> None:
    import subprocess
    import sys

    code = (
        "import io, sys; from batchmap.cli.output import Output, OutputFormat; "
        "o = Output(OutputFormat.table, io.StringIO(), io.StringIO(), {}); "
        "o.info('i'); o.warn('w'); o.error('e'); o.hint('h'); o.success('s'); "
        "print(sorted(m for m in sys.modules if m.startswith('rich')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]", done.stderr


def test_header_lines_are_elided_to_the_width_in_cells() -> None:
    stdout = io.StringIO()
    out = Output(OutputFormat.table, stdout, io.StringIO(), {"COLUMNS": "10"})
    out.fitted_lines(["short [x]", "execution p/d/abcdefgh", "日本語日本語", "a :smile: b c"])
    assert stdout.getvalue().splitlines() == ["short [x]", "execution…", "日本語日 …", "a :smile:…"]
    piped = io.StringIO()
    Output(OutputFormat.table, piped, io.StringIO(), {}).fitted_lines(["execution p/d/abcdefgh"])
    assert piped.getvalue() == "execution p/d/abcdefgh\n"


def _random_value(rng: random.Random) -> object:
    kind = rng.randrange(6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.randrange(-5, 100_000)
    if kind == 2:
        return tuple((f"#{rng.randrange(9)}-0", f"https://e/{rng.randrange(99)}") for _ in "ab")
    odd = "\t\u200d\u2028\x0b" if rng.random() < 0.05 else ""  # rich measures these its own way
    letters = "abc xyz[]/:…日😀-" + ("\n" if kind == 3 else "") + odd
    return "".join(rng.choice(letters) for _ in range(rng.randrange(0, 30)))


def test_plain_tables_are_what_rich_prints_to_a_pipe() -> None:
    """plain_table stands in for rich when stdout is piped: on 3,000 random tables (links,
    wide characters, multi-line cells, fitted to random widths or not) it prints exactly
    what rich prints, or declines (None) and rich prints."""
    from rich.console import Console

    rng = random.Random(20261203)
    made = 0
    for _ in range(3_000):
        columns = [
            Column(
                rng.choice(["INDEX", "REASON", "A", "LONG HEADER", "日本"]),
                f"c{i}",
                justify=rng.choice(["left", "right"]),
                flex=rng.random() < 0.4,
                drop=rng.choice([0, 0, 1, 2, 3]),
            )
            for i in range(rng.randrange(1, 7))
        ]
        rows = [
            {f"c{i}": _random_value(rng) for i in range(len(columns))}
            for _ in range(rng.randrange(0, 8))
        ]
        width = rng.choice([None, rng.randrange(5, 160)])
        console = rng.choice([1000, 80, 40])
        plain = plain_table(columns, rows, width, console)
        if plain is None:
            continue
        made += 1
        stream = io.StringIO()
        rich = Console(file=stream, no_color=True, color_system=None, highlight=False,
                       emoji=False, width=console)  # fmt: skip
        rich.print(Output.make_table(columns, rows, width=width, compact=bool(width)))
        assert plain == stream.getvalue(), (columns, rows, width, console)
    assert made > 1_200  # the others have a cell with edge spaces or are too wide


def test_a_children_table_in_a_pipe_is_made_without_rich() -> None:
    from batchmap.cli.views.executions import CHILD_COLUMNS

    rows = [
        {"index": i, "status": "FAILED", "attempts": 1, "exitCode": 1, "reason": "exited [x]",
         "started": "2026-12-03 06:50:01", "duration": "1m2s", "logs": (("#0-0", "https://e"),)}
        for i in range(50)
    ]  # fmt: skip
    for width in (None, 80, 200):
        assert plain_table(CHILD_COLUMNS, rows, width, width or 1000) is not None


@pytest.mark.parametrize("odd", ["a\tb", "a\u200d", "ab \u2028 cd", "ab \u2029 cd"])
def test_plain_tables_leave_what_rich_measures_its_own_way_to_rich(odd: str) -> None:
    columns = [Column("A", "a"), Column("B", "b", justify="right")]
    assert plain_table(columns, [{"a": odd, "b": 1}], None, 1000) is None
    stdout = io.StringIO()
    Output(OutputFormat.table, stdout, io.StringIO(), {}).table(columns, [{"a": odd, "b": 1}])
    assert stdout.getvalue().startswith("A")  # printed by rich instead


def test_link_targets_are_shown_printable() -> None:
    columns = [Column("LOGS", "logs")]
    rows = [{"logs": (("#0-1", "/home/v\x0bt\x07b/logs/0.1.log"),)}]
    for environ in ({}, {"COLUMNS": "80"}):
        stdout = io.StringIO()
        Output(OutputFormat.table, stdout, io.StringIO(), environ).table(columns, rows)
        assert "\x0b" not in stdout.getvalue() and "\x07" not in stdout.getvalue()
    wide = io.StringIO()
    Output(OutputFormat.table, wide, io.StringIO(), {}, wide=True).table(columns, rows)
    assert "#0-1 /home/v\\x0bt\\x07b/logs/0.1.log" in wide.getvalue()


def test_tabs_in_messages_and_header_lines_become_spaces_as_rich_made_them() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(OutputFormat.table, stdout, stderr, {"COLUMNS": "40"})
    out.error("no\tfile.txt: not found")
    out.info("日本\tx")
    out.fitted_lines(["directory\t/tmp/a\x1b[31mred"])
    error = "error: no\tfile.txt: not found".expandtabs(8)
    assert stderr.getvalue() == f"{error}\n日本    x\n"  # 日本 is 4 cells wide
    assert stdout.getvalue() == "directory       /tmp/a\\x1b[31mred\n"
