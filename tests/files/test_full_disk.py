"""A real full filesystem: a 1 MiB tmpfs, mounted in a private mount namespace
(``unshare --mount``, with ``--map-root-user`` so it needs no root where user namespaces
are enabled), holds the registry and the store; it is filled up, leaving one 4 KiB page.

The real ``batchmap`` then registers a launch plan (about 40 KiB) and creates an
execution (about 30 KiB of items): each fails part-way with ENOSPC, in one line and exit 3,
leaving no temporary file, no truncated version and no lock behind; once space is freed,
the same version registers and the same execution name is created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, write

pytestmark = pytest.mark.server

SCRIPT = r"""
set -u
mount -t tmpfs -o size=1m tmpfs "$DISK"
bm() { "$PY" -m batchmap "$@"; }
step() { name=$1; shift; "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; echo $? >"$OUT/$name.code"; }
step small bm register files "$WORK/small.yaml"
step execfile bm get launchplan -p p -d d small --execFile "$WORK/exec.yaml" --force
cat /dev/zero >"$DISK/filler" 2>/dev/null
truncate -s -4096 "$DISK/filler"
step register_full bm register files "$WORK/big.yaml"
step create_full bm create execution -p p -d d --execFile "$WORK/exec.yaml" full --wait
find "$DISK" -name '*.tmp' -o -name 'lock.json' -o -path '*/big/v1.json' >"$OUT/left_full"
rm "$DISK/filler"
step register_free bm register files "$WORK/big.yaml"
step create_free bm create execution -p p -d d --execFile "$WORK/exec.yaml" full --wait
find "$DISK" -name '*.tmp' -o -name 'lock.json' >"$OUT/left_free"
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs t /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="no mount namespaces here (unshare)")
def test_a_full_disk_is_one_line_and_leaves_nothing_behind(tmp_path: Path) -> None:
    disk, out, work = tmp_path / "disk", tmp_path / "out", Path.cwd()
    disk.mkdir()
    out.mkdir()
    write(
        work / "big.yaml",
        "project: p\ndomain: d\nname: big\nversion: v1\n"
        f"inputs:\n  xs:\n    type: list[int]\n    default: {list(range(8000))}\n"
        "map:\n  over: [xs]\ntask:\n  image: busybox\n  command: [echo, '{{ item }}']\n",
    )
    items = json.dumps(["x" * 10_000] * 3)
    write(
        work / "small.yaml",
        "project: p\ndomain: d\nname: small\nversion: v1\n"
        f"inputs:\n  xs:\n    type: list[str]\n    default: {items}\n"
        f"map:\n  over: [xs]\ntask:\n  image: busybox\n  command: [{sys.executable}, -c, pass]\n",
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PY": sys.executable,
        "DISK": str(disk),
        "OUT": str(out),
        "WORK": str(work),
        "BATCHMAP_REGISTRY": str(disk / "registry"),
        "BATCHMAP_STORAGE": str(disk / "store"),
    }
    subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", SCRIPT],
        env=env,
        cwd=work,
        check=True,
        timeout=300,
    )

    def step(name: str) -> tuple[int, str]:
        return int((out / f"{name}.code").read_text()), (out / f"{name}.err").read_text()

    assert step("small")[0] == 0 and step("execfile")[0] == 0, step("small")[1]
    code, err = step("register_full")
    assert code == 3, err
    (line,) = err.splitlines()
    assert line.startswith(f"error: no space left on device writing {disk}/registry/")
    assert line.endswith("big/v1.json: free space or set storage: elsewhere")
    code, err = step("create_full")
    assert code == 3, err
    assert "error: no space left on device writing" in err and len(err.splitlines()) <= 2
    assert "Traceback" not in err
    assert (out / "left_full").read_text() == ""  # no temp file, no truncated version, no lock
    code, err = step("register_free")
    assert code == 0 and "registered" in (out / "register_free.out").read_text() + err, err
    code, err = step("create_free")
    assert code == 0, err
    assert (out / "left_free").read_text() == ""
