"""Shared fixtures: an isolated HOME and fake AWS credentials for every test,
and ``cli`` to run batchmap's ``main()`` in-process with captured streams."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from batchmap.cli.app import main
from batchmap.cli.context import Environment

# The moto account's fixtures (aws, served, proxy) for every folder that tests on AWS.
pytest_plugins = ["tests.aws_account"]

TESTDATA = Path(__file__).parent / "testdata"


def installed(script: str = "batchmap") -> str:
    """The installed console script (what a user runs), not ``python -m batchmap``."""
    import shutil

    found = shutil.which(script)
    if found is None:
        pytest.fail(f"{script} is not on PATH: install the project (pip install -e .)")
    return found


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate`` until it holds; fail the test (never fall through) after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def extract_all(archive: tarfile.TarFile, destination: Path) -> None:
    """``archive.extractall`` with the "data" filter where this Python has it (3.11.4+,
    3.10.12+); older ones extract as they always did (the archives are the test's own)."""
    if hasattr(tarfile, "data_filter"):
        archive.extractall(destination, filter="data")
    else:
        archive.extractall(destination)


def running_children(name: str, project: str = "proj", domain: str = "dev") -> int:
    """How many children of a local execution in ~/.batchmap's store run now, as
    ``get execution`` reads them (0 before the execution exists)."""
    from typer.testing import CliRunner

    from batchmap.cli.app import app

    result = CliRunner().invoke(
        app, ["get", "execution", "-p", project, "-d", domain, name, "--all", "-o", "json"]
    )
    if result.exit_code != 0:
        return 0
    import json

    return sum(c["status"] == "RUNNING" for c in json.loads(result.stdout)["children"])


def _atomic_conditional_writes() -> None:
    """S3 makes a conditional write (IfMatch, IfNoneMatch) and its check one step: of two
    writers of one version exactly one wins. moto checks, then writes, without a lock, so
    two threads can both pass the check. Make moto's S3 key writes one step, as S3's are."""
    import functools
    import threading

    from moto.s3.responses import S3Response

    guard = threading.RLock()
    for name in ("put_object", "_key_response_delete"):
        real = getattr(S3Response, name)

        @functools.wraps(real)
        def atomic(self, *args, _real=real, **kwargs):  # type: ignore[no-untyped-def]
            with guard:
                return _real(self, *args, **kwargs)

        setattr(S3Response, name, atomic)


_atomic_conditional_writes()


def moto_api(server: str, path: str, body: dict | bytes | None = None) -> None:
    """POST to moto's own API (``/moto-api/reset``, ``/config``, ``/reset-auth``…): a dict
    as JSON, bytes as they are (moto reads some bodies raw)."""
    import json
    import urllib.request

    data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    kind = "text/plain" if isinstance(body, bytes) else "application/json"
    request = urllib.request.Request(
        server + path, data=data, method="POST", headers={"Content-Type": kind}
    )
    # A reset reloads AWS's managed policies where a test asked for them: slow on a busy machine.
    urllib.request.urlopen(request, timeout=120).read()


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """moto's threaded server on 127.0.0.1 for the whole run (each test resets what it
    uses); Batch in its no-Docker mode: every job succeeds at once, nothing runs."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    url = f"http://{host}:{port}"
    moto_api(url, "/moto-api/config", {"batch": {"use_docker": False}})
    yield url
    srv.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """Under CI=true a skipped test is a failure: CI installs everything the suite needs
    (flytekit, chromium), so a skip there would hide a test that never ran."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI", "").lower() == "true":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (a skip hides a test that never ran): {reason}"


_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_SESSION_TOKEN",
    "NO_COLOR",
    "XDG_CACHE_HOME",  # the config check's cache: under the test's HOME, never the user's
)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test sees the developer's HOME, config, profiles or real credentials."""
    home = tmp_path / "home"
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    for name in list(os.environ):
        if name.startswith("BATCHMAP_") or name in _SCRUBBED:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    return home


def _testdata_changes() -> list[str] | None:
    """What differs from git in tests/testdata (untracked and ignored files included), or
    None where git cannot tell (no git, not a checkout)."""
    try:
        listed = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", "."],
            cwd=TESTDATA,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return [line for line in listed.stdout.splitlines() if "__pycache__" not in line]


@pytest.fixture(scope="session", autouse=True)
def testdata_untouched() -> Iterator[None]:
    """No test writes into the repository's test data (a config cache under a HOME that
    pointed into tests/testdata did): checked at the end of the run, when the tree was
    clean at its start."""
    before = _testdata_changes()
    yield
    if before == []:
        after = _testdata_changes()
        assert not after, f"the tests wrote into {TESTDATA}: {after}"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


Invoke = Callable[..., Result]


@pytest.fixture
def cli(isolated: Path) -> Invoke:
    """Run ``batchmap ARGS...`` through ``main()`` (the real error → exit code path)."""
    import io

    def invoke(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: bytes | None = None,
    ) -> Result:
        environ = dict(os.environ)
        environ.update(env or {})
        stdout, stderr = io.StringIO(), io.StringIO()
        piped = io.BytesIO(stdin) if stdin is not None else None
        environment = Environment(stdout, stderr, environ, cwd or Path.cwd(), isolated, piped)
        import contextlib

        saved = dict(os.environ)
        os.environ.update(env or {})  # typer reads envvar= options from os.environ
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                code = main(list(args), environment)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return Result(code, stdout.getvalue(), stderr.getvalue())

    return invoke


ROOT = Path(__file__).parents[1]


def batchmap_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """Start the real ``batchmap`` (this tree's) in a subprocess, with the test's environment
    (isolated HOME, fake credentials) plus ``env``; the caller waits for it."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "batchmap", *args],
        cwd=cwd or Path.cwd(),
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_batchmap(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> Result:
    """Run the real ``batchmap`` in a subprocess to its end."""
    process = batchmap_process(*args, env=env, cwd=cwd)
    stdout, stderr = process.communicate(timeout=timeout)
    return Result(process.returncode, stdout, stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def lines_of(text: str) -> Sequence[str]:
    return [line for line in text.splitlines() if line.strip()]


# --- every AWS call batchmap makes is in `doctor --print-policy` ---------------------------
# Operations are recorded from the whole test suite (calls made by batchmap's code, not by
# the tests' own clients) and checked against the policy when the session ends.
S3_ACTIONS = {
    "HeadObject": "GetObject",
    "HeadBucket": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
}
_CALLS: set[str] = set()


def _made_by_setup(module: str) -> bool:
    """`batchmap setup` (batchmap.setup, doctor aside) needs an administrator's rights by
    design; the policy covers what batchmap needs to run executions."""
    return module.startswith("batchmap.setup.") and module != "batchmap.setup.doctor"


def _record_calls() -> None:
    import sys

    from botocore.client import BaseClient

    real = BaseClient._make_api_call

    def recording(self, operation_name, api_params):  # type: ignore[no-untyped-def]
        frame = sys._getframe(1)
        module = ""
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith("batchmap.") or module.startswith("tests."):
                break
            frame = frame.f_back
        if module.startswith("batchmap.") and not _made_by_setup(module):
            prefix = self.meta.service_model.signing_name
            action = (
                S3_ACTIONS.get(operation_name, operation_name)
                if prefix == "s3"
                else (operation_name)
            )
            _CALLS.add(f"{prefix}:{action}")
        return real(self, operation_name, api_params)

    BaseClient._make_api_call = recording


_record_calls()


def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    if not _CALLS or exitstatus != 0:
        return
    from batchmap.setup.doctor import ACTIONS

    allowed = {a for actions in ACTIONS.values() for a in actions} | {
        "iam:PassRole",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
    }
    missing = sorted(_CALLS - allowed)
    if missing:
        print(f"\nbatchmap makes AWS calls that doctor --print-policy lacks: {missing}")
        session.exitstatus = 1
