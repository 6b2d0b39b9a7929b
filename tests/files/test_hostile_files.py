"""Files that are not what they claim: FIFOs, devices, directories, symlinks, truncated
archives. batchmap reads only regular files of bounded size and writes only regular
files (issue 18, items 7 and 13): one line and exit 3, never a hang, a read without
end, or a device replaced by a file.

FIFO and /dev/zero cases run batchmap in a subprocess with a timeout and a memory
limit: on a batchmap without these checks they fail instead of hanging the suite."""

import os
import resource
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import TESTDATA, Invoke, write

SQUARES = Path(__file__).parents[2] / "examples" / "squares.yaml"
P = ("-p", "flytesnacks", "-d", "development")
PACKAGE = TESTDATA / "flyte" / "pkg.tgz"


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: /dev/zero cannot eat RAM


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``batchmap ARGS`` in a subprocess that cannot hang the suite or fill the memory."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "batchmap", *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=60,
            preexec_fn=_limited,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"batchmap {' '.join(args)} blocked for 60 s")


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_fifo_as_config_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "config.yaml")
    result = run("-c", str(fifo), "config", "show", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"error: {fifo}: is a FIFO (named pipe), expected a YAML file" in result.stderr


def test_dev_zero_as_config_is_refused_not_read_without_end(tmp_path: Path) -> None:
    result = run("-c", "/dev/zero", "config", "validate", "/dev/zero", cwd=tmp_path)
    assert result.returncode == 3, result.stderr[-500:]
    assert "/dev/zero: is a character device, expected a YAML file" in result.stderr


def test_a_fifo_as_exec_file_or_launch_plan_is_refused(cli: Invoke, tmp_path: Path) -> None:
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    fifo = _fifo(tmp_path / "exec.yaml")
    created = run("create", "execution", *P, "--execFile", str(fifo), "--dryRun", cwd=tmp_path)
    assert created.returncode == 3, created.stderr
    assert "is a FIFO (named pipe)" in created.stderr
    registered = run("register", "files", str(fifo), cwd=tmp_path)
    assert registered.returncode == 3 and "is a FIFO (named pipe)" in registered.stderr


def test_a_fifo_as_flyte_protobuf_is_refused(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "01_task_1.pb")
    result = run("register", "files", str(fifo), *P, "--version", "v1", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert f"{fifo}: is a FIFO (named pipe), expected a Flyte .pb file" in result.stderr


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.files import safe

    monkeypatch.setattr(safe, "YAML_LIMIT", 1000)
    big = write(tmp_path / "big.yaml", "# " + "x" * 2000 + "\nbackend: local\n")
    result = cli("config", "validate", str(big))
    assert result.exit_code == 3
    assert f"{big}: is 2,018 bytes, over the 1,000 bytes batchmap reads as a YAML file" in (
        result.stderr
    )


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink-to-fifo"])
def test_exec_file_targets_that_are_not_regular_files_are_never_replaced(
    cli: Invoke, tmp_path: Path, kind: str
) -> None:
    """As root, `--execFile /dev/null --force` replaced /dev/null for the whole machine:
    the same class, tested on a FIFO and a directory of the test's own."""
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    target = tmp_path / "target"
    if kind == "directory":
        target.mkdir()
    else:
        _fifo(target)
    named = target
    if kind == "symlink-to-fifo":
        named = tmp_path / "link.yaml"
        named.symlink_to(target)
    result = cli("get", "launchplan", *P, "squares", "--execFile", str(named), "--force")
    assert result.exit_code == 3, result.stderr
    assert "batchmap writes only regular files" in result.stderr
    assert target.is_dir() if kind == "directory" else target.is_fifo()
    if kind == "symlink-to-fifo":
        assert named.is_symlink()
    init = cli("config", "init", "--path", str(named), "--force")
    assert init.exit_code == 3 and "batchmap writes only regular files" in init.stderr


def test_a_symlinked_exec_file_is_written_through(cli: Invoke, tmp_path: Path) -> None:
    """Deliberately: the link stays a link (dotfile managers keep files that way) and the
    file it points to is replaced atomically, private to its owner."""
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    real = write(tmp_path / "real" / "exec.yaml", "old\n")
    link = tmp_path / "exec.yaml"
    link.symlink_to(real)
    result = cli("get", "launchplan", *P, "squares", "--execFile", str(link), "--force")
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert "workflow: squares" in real.read_text()
    assert real.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_a_missing_or_directory_protobuf_is_one_line(cli: Invoke, tmp_path: Path, kind) -> None:
    path = tmp_path / "01_task_1.pb"
    if kind == "directory":
        path.mkdir()
    result = cli("register", "files", str(path), *P, "--version", "v1")
    assert result.exit_code == 3, result.stderr
    expected = "no such file" if kind == "missing" else "is a directory"
    assert f"error: {path}: {expected}" in result.stderr
    assert "Traceback" not in result.output and "unexpected" not in result.stderr


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_a_truncated_package_is_exit_3_not_interrupted(
    cli: Invoke, tmp_path: Path, keep: float
) -> None:
    """An EOFError in gzip used to become typer's Abort: exit 130, "interrupted"."""
    data = PACKAGE.read_bytes()
    cut = write(tmp_path / "cut.tgz", "")
    cut.write_bytes(data[: int(len(data) * keep)])
    result = cli("register", "files", str(cut), *P, "--version", "v1")
    assert result.exit_code == 3, result.stderr
    assert f"{cut}: not a readable package" in result.stderr
    assert "interrupted" not in result.stderr


def test_a_package_member_over_the_cap_is_refused(
    cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.flyte import package

    monkeypatch.setattr(package, "PROTOBUF_LIMIT", 10)
    with tarfile.open(PACKAGE) as archive:
        assert any(m.size > 10 for m in archive.getmembers() if m.name.endswith(".pb"))
    result = cli("register", "files", str(PACKAGE), *P, "--version", "v1")
    assert result.exit_code == 3
    assert "over the 10 batchmap reads as a Flyte protobuf" in result.stderr


def test_store_objects_that_are_not_files_are_refused(cli: Invoke, isolated: Path) -> None:
    """A FIFO where a manifest should be would block `get execution` forever."""
    folder = isolated / ".batchmap" / "store" / "proj" / "dev" / "fifo"
    folder.mkdir(parents=True)
    _fifo(folder / "execution.json")
    result = run("get", "execution", "-p", "proj", "-d", "dev", "fifo", cwd=isolated)
    assert result.returncode == 3, result.stderr
    assert "execution.json: is a FIFO (named pipe), not a file batchmap wrote" in result.stderr


@pytest.mark.parametrize("setting", ["BATCHMAP_STORAGE", "BATCHMAP_REGISTRY"])
def test_a_store_that_is_a_file_is_one_line(cli: Invoke, tmp_path: Path, setting: str) -> None:
    """Writes the system refuses (a store folder that is a file, a missing parent)."""
    exec_file = tmp_path / "exec.yaml"
    assert cli("register", "files", str(SQUARES)).exit_code == 0
    assert cli("get", "launchplan", *P, "squares", "--execFile", str(exec_file)).exit_code == 0
    blocker = write(tmp_path / "a-file", "not a folder\n")
    env = {setting: str(blocker)}
    args = (
        ("create", "execution", *P, "--execFile", str(exec_file))
        if setting == "BATCHMAP_STORAGE"
        else ("register", "files", str(SQUARES))
    )
    result = cli(*args, env=env)
    assert result.exit_code == 3, result.stderr
    assert f"cannot write {blocker}/flytesnacks/development/" in result.stderr
    assert "Not a directory" in result.stderr
    assert blocker.read_text() == "not a folder\n"


def test_a_package_over_the_cap_is_refused_before_it_is_opened(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchmap.flyte import package

    monkeypatch.setattr(package, "PACKAGE_LIMIT", 100)
    result = cli("register", "files", str(PACKAGE), *P, "--version", "v1")
    assert result.exit_code == 3, result.stderr
    size = PACKAGE.stat().st_size
    expected = f"{PACKAGE}: is {size:,} bytes, over the 100 bytes batchmap reads as a pyflyte"
    assert expected in result.stderr
