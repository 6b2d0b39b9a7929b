"""``batchmap-task -- COMMAND TEMPLATE...``: the child for images that have batchmap.

It is batchmap/runtime/child.py, the same stdlib-only code the job definition carries
inline for images that only have python3 (``task.runtime: batchmap-task`` selects this
entry point instead).
"""

from batchmap.runtime.child import main

if __name__ == "__main__":
    raise SystemExit(main())
