"""What tables and messages print is the text given: never read as rich markup or emoji
codes, piped or on a terminal width."""

from __future__ import annotations

import io

import pytest

from batchmap.cli.output import Column, Output, OutputFormat

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
