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
import threading

PAUSE = 2.0  # seconds


def pause_collector(seconds: float = PAUSE) -> threading.Timer:
    """Turn the cycle collector off, and back on after ``seconds`` (a daemon timer)."""
    gc.disable()
    timer = threading.Timer(seconds, gc.enable)
    timer.daemon = True
    timer.start()
    return timer


def run() -> None:
    """The console script (pyproject's ``[project.scripts]``) and ``python -m batchmap``."""
    pause_collector()
    from batchmap.cli.app import main

    try:
        code = main()
    finally:
        gc.freeze()  # the run's objects go with the process, not through exit's collections
    sys.exit(code)
