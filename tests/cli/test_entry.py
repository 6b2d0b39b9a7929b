"""The console script: ``main()`` with the cycle collector paused for its first moments
(tests and the library call ``main()``, which leaves the collector alone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout


def test_the_collector_is_off_at_start_and_back_on_after_the_pause() -> None:
    code = (
        "import gc; from batchmap.cli.entry import pause_collector; "
        "timer = pause_collector(0.2); print(gc.isenabled(), timer.daemon); "
        "timer.join(); print(gc.isenabled())"
    )
    assert _python(code).split() == ["False", "True", "True"]


def test_main_leaves_the_collector_alone() -> None:
    code = (
        "import gc; from batchmap.cli.app import main; main(['--version']); print(gc.isenabled())"
    )
    assert _python(code).split()[-1] == "True"


def test_the_console_script_and_python_m_run_the_entry() -> None:
    assert 'batchmap = "batchmap.cli.entry:run"' in (ROOT / "pyproject.toml").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "batchmap", "--version"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0 and "batchmap" in done.stdout
    code = (
        "import gc, sys; sys.argv = ['batchmap', '--version']; "
        "from batchmap.cli import entry; "
        "sys.exit = lambda code: print('exit', code, gc.isenabled()); entry.run()"
    )
    assert _python(code).splitlines()[-1] == "exit 0 False"


def test_what_the_run_made_is_frozen_when_main_ends() -> None:
    """Exit's collections skip the run's objects; exit itself still runs as usual."""
    code = (
        "import atexit, gc, sys; sys.argv = ['batchmap', '--version']; "
        "from batchmap.cli import entry; "
        "atexit.register(lambda: print('atexit ran')); "
        "sys.exit = lambda code: print('exit', code, gc.get_freeze_count() > 1000); entry.run()"
    )
    assert _python(code).splitlines()[-2:] == ["exit 0 True", "atexit ran"]


def test_an_error_still_freezes_and_exits_with_its_code(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "batchmap", "-c", str(tmp_path / "missing.yaml"), "config", "show"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 3 and "no such file" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["config", "show"]])
def test_a_reader_that_left_is_not_an_error(args: list[str], tmp_path: Path) -> None:
    """`batchmap ... | head`: output meeting a closed pipe ends in exit 0, quietly, whether
    it fails inside the command (where typer exits 1 itself) or at the last flush."""
    read, write = os.pipe()
    os.close(read)  # every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "batchmap", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (0, b"")


def test_a_ctrl_c_while_the_cli_loads_is_one_line_and_exit_130() -> None:
    """Before main() handles Ctrl-C (the CLI's imports), it still ends as in a command."""
    done = _run_with_app(
        "def interrupted(name):\n    raise KeyboardInterrupt\napp.__getattr__ = interrupted\n"
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "error: interrupted\n", "")


def _run_with_app(app_source: str) -> subprocess.CompletedProcess[str]:
    """The console script's ``run()`` with ``batchmap.cli.app`` replaced by a module
    ``app`` that ``app_source`` fills."""
    code = (
        "import sys, time, types\n"
        "app = types.ModuleType('batchmap.cli.app')\n"
        f"{app_source}"
        "sys.modules['batchmap.cli.app'] = app\n"
        "from batchmap.cli import entry\n"
        "entry.run()\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)


def test_a_sigint_at_any_moment_of_the_start_never_prints_a_traceback() -> None:
    """A real SIGINT at 0-120 ms after the console script has imported its entry point
    (what comes before is Python's own start-up): whatever it meets, one line and exit
    130, or the command's own end."""
    import signal
    import time

    code = (
        "import sys; sys.argv = ['batchmap', 'get', 'launchplan', '-p', 'p', '-d', 'd']; "
        "from batchmap.cli.entry import run; print('go', flush=True); run()"
    )
    env = {**os.environ, "HOME": str(ROOT / "nonexistent-home")}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, env=env)
    for delay in range(0, 121, 8):
        started = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert started.stdout is not None and started.stdout.readline() == "go\n"
        time.sleep(delay / 1000)
        started.send_signal(signal.SIGINT)
        _, err = started.communicate(timeout=30)
        assert "Traceback" not in err, (delay, err)
        # -SIGINT: it came as the process exited (Python ends by the signal, as a shell
        # expects of a program interrupted there)
        ends = (quiet.returncode, 130, -signal.SIGINT)
        assert started.returncode in ends, (delay, started.returncode, err)


def test_a_ctrl_c_that_python_could_not_raise_is_raised_again() -> None:
    """A KeyboardInterrupt met in a ``__del__`` or a weakref callback is "ignored" by
    Python, and the command went on; the console script raises it in the main thread."""
    done = _run_with_app(
        "class Bomb:\n"
        "    def __del__(self):\n"
        "        raise KeyboardInterrupt\n"
        "def main():\n"
        "    Bomb()  # deleted at once: an unraisable KeyboardInterrupt\n"
        "    for _ in range(2000):\n"
        "        time.sleep(0.001)\n"
        "    print('went on')\n"
        "    return 0\n"
        "app.main = main\n"
    )
    assert (done.returncode, done.stderr, done.stdout) == (130, "error: interrupted\n", "")
