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
