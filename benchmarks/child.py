"""The child bootstrap's figures: its size in the job definition, its start-up overhead.

    python benchmarks/child.py            # 30 runs of each
    python benchmarks/child.py --runs 10

Size: the bytes of the command (as JSON) and of the whole RegisterJobDefinition request
for examples/squares.yaml, against AWS Batch's 24 KiB job-definition limit.

Start-up: wall time of a trivial child (`true`) started as the job definition starts it —
`python3 -I -S -c PROGRAM -- true` with file:// inputs — next to `python3 -c pass`, the
floor of anything that starts Python, and `batchmap-task -- true`, the entry point of
images with batchmap installed. Min and median over the runs, of wall time and of CPU time
(with the difference to `python3 -c pass`'s median). Measurements, not tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from batchmap.aws.limits import MAX_JOB_DEFINITION_BYTES  # noqa: E402
from batchmap.backends.aws.requests import job_definition  # noqa: E402
from batchmap.files.store import LocalStore  # noqa: E402
from batchmap.launchplans.parse import parse_files  # noqa: E402
from batchmap.runtime import bootstrap, bootstrap_command  # noqa: E402
from batchmap.tasks import kind_of  # noqa: E402
from batchmap.tasks.base import Target  # noqa: E402
from batchmap.tasks.staging import stage  # noqa: E402

LIMIT = MAX_JOB_DEFINITION_BYTES


def sizes() -> dict[str, int]:
    (plan,) = parse_files([ROOT / "examples" / "squares.yaml"])
    target = Target("abcdefghij0123456789", plan.project, plan.domain, "s3://bucket/store")
    request = job_definition(
        execution="abcdefghij0123456789",
        plan=plan.spec_dict(),
        child=kind_of(plan).child(plan, {}, target),
        role="arn:aws:iam::123456789012:role/batchmap-task",
        service_account=None,
        log_group="/aws/batch/job",
        plugin={},
        eks=False,
    )
    source = bootstrap.CHILD.read_bytes()
    return {
        "child.py": len(source),
        "child.py stripped": len(bootstrap.strip(source.decode()).encode()),
        "-c program": len(bootstrap.program().encode()),
        "command (JSON)": len(json.dumps(request["containerProperties"]["command"]).encode()),
        "RegisterJobDefinition, squares.yaml (JSON)": len(json.dumps(request).encode()),
    }


def timed(argv: list[str], env: dict[str, str], runs: int) -> dict[str, tuple[float, float]]:
    """(min, median) of wall time and of CPU time (user + system, the command's own
    children included): on a shared machine wall time also counts waiting for a core."""
    wall, cpu = [], []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"{argv[0]} failed with {process.returncode}")
    return {
        "wall": (min(wall), statistics.median(wall)),
        "cpu": (min(cpu), statistics.median(cpu)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    print("## Size in the job definition\n")
    for name, size in sizes().items():
        print(f"{name:45} {size:7,} bytes  ({100 * size / LIMIT:4.1f}% of 24 KiB)")

    with tempfile.TemporaryDirectory() as tmp:
        lp = Path(tmp) / "lp.yaml"
        lp.write_text(
            "project: p\ndomain: d\nname: lp\nversion: v1\n"
            "inputs:\n  xs:\n    type: list[int]\nmap:\n  over: [xs]\n"
            "task:\n  image: i\n  command: [x]\n"
        )
        (plan,) = parse_files([lp])
        store = LocalStore(Path(tmp) / "store")
        staged = stage(store, "p/d/e", plan, {"xs": list(range(10_000))})
        python3 = shutil.which("python3") or sys.executable
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BATCHMAP_INPUTS": staged.inputs_uri,
            "BATCHMAP_OUTPUT_PREFIX": store.uri("p/d/e/outputs"),
            "BATCHMAP_EXECUTION": "e",
            "BATCH_JOB_ARRAY_INDEX_VAR_NAME": "AWS_BATCH_JOB_ARRAY_INDEX",
            "AWS_BATCH_JOB_ARRAY_INDEX": "9999",
        }
        cases = {
            "python3 -c pass": [python3, "-c", "pass"],
            "python3 -I -S -c pass": [python3, "-I", "-S", "-c", "pass"],
            "child bootstrap -- true": [python3, *bootstrap_command(["true"])[1:]],
        }
        # What the batchmap-task console script runs, in an environment with batchmap.
        script = "import sys; from batchmap.runtime.task import main; sys.exit(main())"
        cases["batchmap-task -- true"] = [sys.executable, "-c", script, "--", "true"]
        env["PYTHONPATH"] = str(ROOT)
        print(f"\n## Start-up, {args.runs} runs each ({python3}, file:// inputs)\n")
        results = {name: timed(argv, env, args.runs) for name, argv in cases.items()}
        floor = results["python3 -c pass"]
        for name, result in results.items():
            cells = []
            for kind in ("wall", "cpu"):
                low, median = result[kind]
                more = 1000 * (median - floor[kind][1])
                cells.append(
                    f"{kind} min {1000 * low:5.1f} median {1000 * median:5.1f} ms ({more:+5.1f})"
                )
            print(f"{name:24} " + "   ".join(cells))


if __name__ == "__main__":
    main()
