"""The ``batchmap`` console script: ``main()`` with the cycle collector paused at start
and skipped at exit.

A command's first moments are imports, botocore's service models and a few calls:
hundreds of thousands of objects that live until exit, none of them garbage. CPython's
cycle collector, run by allocation counts, walks them again and again: 65-75 ms of a
0.6 s ``get execution`` here (docs/benchmarks.md). So the console script starts with
the collector off and a daemon timer turns it back on after ``PAUSE`` seconds: a
one-shot command ends first; a long one (``--wait``, ``--watch``, ``logs --follow``,
the local supervisor) runs with the collector as usual from then on. Reference
counting frees everything else as always. ``main()`` itself (what tests and the
library call) leaves the collector alone.

At exit, CPython runs full collections while it takes the interpreter down: they walked
every object of the run once more, 60-80 ms of the same ``get execution``, as long as
the command's own work in a plain boto3 script. When ``main()`` returns (or raises), the
console script freezes what exists (``gc.freeze()``): exit's collections skip it, and
the process's end frees the memory. Nothing else changes: ``atexit`` handlers run,
threads are waited for, files are flushed and closed as before (batchmap closes its own
with ``with``), and exit takes ~10 ms.
"""

from __future__ import annotations

import gc
import sys

TYPE_CHECKING = False  # not typing's: this module imports nothing the interpreter lacks
if TYPE_CHECKING:
    import threading

PAUSE = 2.0  # seconds


def pause_collector(seconds: float = PAUSE) -> threading.Timer:
    """Turn the cycle collector off, and back on after ``seconds`` (a daemon timer)."""
    import threading

    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True
    timer.start()
    return timer


def run() -> None:
    """The console script (pyproject's ``[project.scripts]``) and ``python -m batchmap``.

    A Ctrl-C while the CLI loads (its first ~0.1 s, before ``main()`` handles one) ends it
    as in a command: one line, exit 130, no traceback. This module imports only what the
    interpreter has loaded already, so what is left uncovered is the console script's own
    import of it (three small modules, about a millisecond)."""
    sys.unraisablehook = _unraisable
    try:
        pause_collector()
        from batchmap.cli.app import main

        try:
            code = main()
        finally:
            gc.freeze()  # the run's objects go with the process, not through exit's collections
    except Exception as exc:  # what Python made of a KeyboardInterrupt (3.11 wraps one met
        if not isinstance(exc.__cause__, KeyboardInterrupt):  # in __set_name__, say)
            raise
        code = _interrupted()
    except KeyboardInterrupt:
        code = _interrupted()
    sys.exit(code)


def _unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """A Ctrl-C met where Python cannot raise it (a weakref callback of its import
    machinery, a ``__del__``) is printed as "Exception ignored" and lost: the command
    went on as if it had not come. It is raised again in the main thread instead, by a
    thread that does it a moment later (raised now, it would be met here again)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import _thread

        _thread.start_new_thread(_interrupt_soon, ())
        return
    sys.__unraisablehook__(unraisable)


def _interrupt_soon() -> None:
    import _thread
    import time

    time.sleep(0.005)
    _thread.interrupt_main()


def _interrupted() -> int:
    from batchmap.errors import ExitCode

    sys.stderr.write("error: interrupted\n")
    return int(ExitCode.INTERRUPTED)
