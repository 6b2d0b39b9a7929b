"""Watching an execution as a person does (a real pseudo-terminal of 80×24 and 120×40,
rendered by pyte) and as CI does (no terminal): widths, the progress line, the grid,
the rows that fit, the summary and the exit code."""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pyte
import pytest

from batchmap.cli.output import Output, OutputFormat
from batchmap.cli.views.live import CiProgress
from batchmap.executions.phase import phase_of
from tests.backends.local.test_local_backend import PY, P, prepare
from tests.conftest import TESTDATA, Invoke

# 30 children; 3, 10, 17 and 24 fail twice (retries: 1): 26 succeed, 27 are needed.
MIXED = (
    "import sys, time; n = int(sys.argv[1]); time.sleep(0.05 * (n % 4)); "
    "print('child', n); sys.exit(3 if n % 7 == 3 else 0)"
)
FAILED = [3, 10, 17, 24]


def mixed(cli: Invoke, tmp_path: Path) -> Path:
    return prepare(
        cli,
        tmp_path,
        [PY, "-c", MIXED, "{{ item }}"],
        name="mixed",
        default=range(30),
        ratio=0.9,
        retries=1,
        concurrency=6,
    )


def batchmap_argv() -> list[str]:
    found = shutil.which("batchmap")
    return [found] if found else [sys.executable, "-m", "batchmap"]


def on_pty(args: list[str], cols: int, rows: int) -> tuple[int, pyte.Screen, int]:
    """Run ``batchmap ARGS`` on a pseudo-terminal of cols×rows; return its exit code, the
    screen (pyte, wider and taller than the terminal so nothing is hidden) and the widest
    line seen at any moment (an overflow would land past column ``cols``)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [*batchmap_argv(), *args], stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    screen = pyte.Screen(cols * 3, 400)
    stream = pyte.ByteStream(screen)
    widest = 0
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            stream.feed(chunk)
            widest = max(widest, *(len(line.rstrip()) for line in screen.display))
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), screen, widest


def screen_lines(screen: pyte.Screen) -> list[str]:
    lines = [line.rstrip() for line in screen.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


@pytest.mark.parametrize(("cols", "rows"), [(80, 24), (120, 40)])
def test_the_live_view_fits_the_terminal_and_ends_in_a_summary(
    cli: Invoke, tmp_path: Path, cols: int, rows: int
) -> None:
    exec_file = mixed(cli, tmp_path)
    name = f"live{cols}"
    args = ["create", "execution", *P, "--execFile", str(exec_file), "--wait", name]
    code, screen, widest = on_pty(args, cols, rows)
    lines = screen_lines(screen)
    text = "\n".join(lines)
    assert code == 7, text
    assert widest <= cols, f"a line of {widest} columns on a {cols}-column terminal:\n{text}"
    # The last frame of the live view: header, bar, counts, grid, then the rows that fit.
    top = next(i for i, line in enumerate(lines) if line.startswith(f"{name}  FAILED"))
    end = next(i for i, line in enumerate(lines) if line.startswith(f"── {name}:"))
    frame = lines[top:end]
    assert len(frame) <= rows - 1, "\n".join(frame)
    assert "elapsed" in frame[0] and "ETA" not in frame[0]  # the header is updated
    assert frame[1].endswith(" 30/30") and len(frame[1]) == cols  # the bar spans the width
    assert frame[2].startswith("█ 26 succeeded  ✗ 4 failed  ▒ 0 running  ░ 0 queued")
    grid = next(line for line in frame if line.lstrip().startswith("0 "))
    cells = grid.strip().split(" ", 1)[1]
    assert [i for i, c in enumerate(cells) if c == "✗"] == FAILED
    header = next(i for i, line in enumerate(frame) if line.lstrip().startswith("INDEX"))
    rows_shown = [line for line in frame[header + 2 :] if re.match(r"^\s+\d+\s", line)]
    # Non-succeeded first; as many rows as fit, and a count of the others.
    assert [int(r.split()[0]) for r in rows_shown[:4]] == FAILED
    assert all("FAILED" in r for r in rows_shown[:4])
    more = [line for line in frame if line.startswith("… ")]
    if len(rows_shown) < 30:
        assert more == [f"… {30 - len(rows_shown)} more ({30 - len(rows_shown)} succeeded)"]
    else:
        assert more == []
    assert (len(rows_shown) < 30) == (rows == 24)
    # The summary: the result, each failed child, and the commands to run next.
    summary = lines[end:]
    assert summary[0].startswith(f"── {name}: FAILED: 26 of 30 children succeeded (87%), 27 needed")
    joined = " ".join(s.strip() for s in summary)
    assert "(minSuccessRatio 0.9); wall time" in joined
    failed_rows = [s for s in summary if re.match(r"^\s+\d+\s+2\s+3\s+exited with code 3$", s)]
    assert [int(s.split()[0]) for s in failed_rows] == FAILED
    assert f"batchmap relaunch -p proj -d dev {name} --failed --wait" in joined
    assert f"batchmap logs -p proj -d dev {name} --status FAILED --tail 20" in joined
    assert "error: execution failed: 26 of 30 children succeeded, 27 needed" in joined


def test_ci_progress_lines_are_pinned() -> None:
    """No terminal: a timestamped line when something changed, at most every 10 s, a
    heartbeat every 60 s, and always the last."""
    from batchmap.executions.manifest import Manifest

    start = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)
    manifest = Manifest.__new__(Manifest)
    manifest.name, manifest.created_at = "ci", start
    err = io.StringIO()
    out = Output(OutputFormat.table, io.StringIO(), err, {})
    now = [start]
    progress = CiProgress(out, manifest, lambda: now[0])

    def tick(seconds: float, **counts: int) -> None:
        now[0] = start + dt.timedelta(seconds=seconds)
        progress(phase_of(counts, 30, 27))

    tick(0)
    tick(1, RUNNING=6)  # changed, but within 10 s of the last line: held
    tick(9, RUNNING=6, SUCCEEDED=2)
    tick(10, RUNNING=6, SUCCEEDED=3)  # 10 s: printed
    tick(15, RUNNING=6, SUCCEEDED=8)
    tick(70, RUNNING=6, SUCCEEDED=8)  # a minute without a line: a heartbeat
    tick(71, SUCCEEDED=26, FAILED=4)  # the end: always printed
    expected = (TESTDATA / "watch" / "ci-progress.txt").read_text()
    assert err.getvalue() == expected


def test_the_summary_in_ci_is_pinned(cli: Invoke, tmp_path: Path) -> None:
    """What a CI log shows at the end of `create --wait` (times masked)."""
    exec_file = mixed(cli, tmp_path)
    result = cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "cisum")
    assert result.exit_code == 7
    tail = result.stderr[result.stderr.index("── cisum:") :]
    masked = re.sub(r"wall time \S+", "wall time T", tail)
    masked = re.sub(r" +\n", "\n", masked)
    assert masked == (TESTDATA / "watch" / "ci-summary.txt").read_text()
    progress = [line for line in result.stderr.splitlines() if " cisum RUNNING " in line]
    assert progress and all(
        re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ cisum RUNNING \d+/30 ended: ", line)
        for line in progress
    )


def test_relaunch_wait_exits_by_the_merged_result(cli: Invoke, tmp_path: Path) -> None:
    """26 of 30 (27 needed) and a relaunch that fixes 3 of the 4: the merged result (29)
    meets the ratio, so `relaunch --wait` exits 0 and the root reads SUCCEEDED."""
    marker = tmp_path / "fixed"
    fixed = f"__import__('os').path.exists({str(marker)!r})"
    script = MIXED.replace(
        "sys.exit(3 if n % 7 == 3 else 0)",
        f"sys.exit(3 if n % 7 == 3 and (n == 24 or not {fixed}) else 0)",
    )
    exec_file = prepare(
        cli,
        tmp_path,
        [PY, "-c", script, "{{ item }}"],
        name="mixed",
        default=range(30),
        ratio=0.9,
        retries=1,
        concurrency=6,
    )
    assert (
        cli("create", "execution", *P, "--execFile", str(exec_file), "--wait", "root").exit_code
        == 7
    )
    marker.write_text("yes")
    again = cli("relaunch", *P, "root", "--failed", "--wait", "--name", "fix")
    assert again.exit_code == 0, again.stderr
    assert "── fix: SUCCEEDED (merged with 1 relaunch): 29 of 30 children succeeded" in again.stderr
    assert "relaunch fix: FAILED, latest attempt of 4 of 30 children" in again.stderr
    import json

    root = json.loads(cli("get", "execution", *P, "root", "--all", "-o", "json").stdout)
    assert root["status"]["phase"] == "SUCCEEDED" and root["status"]["succeeded"] == 29
    assert root["ownStatus"]["phase"] == "FAILED" and root["ownStatus"]["succeeded"] == 26
    assert [r["name"] for r in root["relaunches"]] == ["fix"]
    latest = {c["index"]: (c["status"], c["execution"]) for c in root["children"]}
    assert latest[3] == ("SUCCEEDED", "fix") and latest[24] == ("FAILED", "fix")
    assert latest[0] == ("SUCCEEDED", "root") and len(latest) == 30
    table = cli("get", "execution", *P, "root").stdout
    assert "SUCCEEDED: 29 succeeded, 1 failed" in table and "(merged with 1 relaunch)" in table
    listed = cli("get", "execution", *P, "-o", "json").stdout
    phases = {e["name"]: e["status"]["phase"] for e in json.loads(listed)}
    assert phases == {"root": "SUCCEEDED", "fix": "FAILED"}
    # Only the one still failing is relaunched next.
    dry = cli("relaunch", *P, "root", "--failed", "--dryRun", "-o", "json")
    assert json.loads(dry.stdout)["indexMap"] == [24]
