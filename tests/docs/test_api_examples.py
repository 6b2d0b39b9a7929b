"""Every python block of docs/api.md runs as written, in order, from a copy of the
repository's examples, with an empty home folder."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_every_example_of_the_api_page_runs(isolated: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    work = Path.cwd()
    shutil.copytree(ROOT / "examples", work / "examples")
    blocks = BLOCK.findall((ROOT / "docs" / "api.md").read_text())
    assert len(blocks) >= 6
    namespace: dict[str, object] = {"__name__": "api_md"}
    printed = io.StringIO()
    for number, code in enumerate(blocks, start=1):
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"docs/api.md block {number}", "exec"), namespace)
    text = printed.getvalue()
    # What the page promises the blocks print.
    assert "local" in text.splitlines()[0]
    assert "('squares', 'registered')" in text
    assert "SUCCEEDED 10 10" in text
    assert "[1, 4, 9, 16]" in text
    assert "child 3: 4 squared is 16" in text
    assert "SUCCEEDED (2, 5)" in text
    assert "4 True" in text  # NotFoundError's exit code
    assert "3 txt" in text and "True SUCCEEDED" in text  # items from a file; an ad-hoc run
    assert (isolated / ".batchmap" / "store" / "flytesnacks" / "development" / "api-demo").is_dir()
