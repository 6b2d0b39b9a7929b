"""A crash after each step of create execution, then a re-run with the same name: never
two array jobs, always a consistent manifest."""

import json

import boto3
import pytest

from batchmap.backends.aws import backend as aws_batch
from batchmap.executions import manifest as executions
from batchmap.tasks import container
from tests.aws_account import register_with_items
from tests.conftest import Invoke

P = ("-p", "flytesnacks", "-d", "development")


def _parents() -> list[str]:
    batch = boto3.client("batch", region_name="us-east-1")
    return sorted(
        j["jobId"]
        for q in ("critical", "default")
        for s in ("SUCCEEDED", "FAILED")
        for j in batch.list_jobs(jobQueue=q, jobStatus=s)["jobSummaryList"]
        if ":" not in j["jobId"]
    )


def _crash_after(monkeypatch, owner, name: str, when=lambda *a, **k: True):  # type: ignore[no-untyped-def]
    real = getattr(owner, name)

    def crashing(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = real(*args, **kwargs)
        if when(*args, **kwargs):
            raise KeyboardInterrupt  # the process dies right after this step
        return result

    monkeypatch.setattr(owner, name, crashing)
    return real


STEPS = {
    "staging": (container.ContainerTask, "stage", None),
    "registration": (aws_batch.AwsBatchBackend, "_register", None),
    "manifest": (executions.Manifest, "__init__", None),
    "submit": (aws_batch.AwsBatchBackend, "_submit_once", None),
    "recorded": (executions, "save", lambda store, m: m.state == "SUBMITTED"),
}


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("step", list(STEPS))
def test_crash_after_each_step_then_rerun(cli: Invoke, monkeypatch, step: str) -> None:
    exec_file = register_with_items(cli, 12)
    owner, name, when = STEPS[step]
    if step == "manifest":
        # Crash once the SUBMITTING manifest is written (the exclusive put of execution.json).
        from batchmap.files.store import S3Store

        owner, name = S3Store, "put"

        def when(self, key, data, exclusive=False, **_):  # type: ignore[no-untyped-def]
            return key.endswith("execution.json") and exclusive

    real = _crash_after(monkeypatch, owner, name, when or (lambda *a, **k: True))
    crashed = cli("create", "execution", *P, "--execFile", str(exec_file), "crashy")
    assert crashed.exit_code == 130, crashed.stderr
    monkeypatch.setattr(owner, name, real)
    rerun = cli("create", "execution", *P, "--execFile", str(exec_file), "crashy", "-o", "json")
    if step == "recorded":  # the manifest already said SUBMITTED: refused, nothing resubmitted
        assert rerun.exit_code == 3 and "exists" in rerun.stderr
        manifest = json.loads(cli("get", "execution", *P, "crashy", "-o", "json").stdout)
    else:
        assert rerun.exit_code == 0, rerun.stderr
        manifest = json.loads(rerun.stdout)
    # Submitted (moto ends the children at once: reading shows it FINISHED), never SUBMITTING.
    assert manifest["state"] in ("SUBMITTED", "FINISHED")
    assert len(_parents()) == 1, f"two array jobs after a crash at {step}"
    assert [j["jobId"] for j in manifest["jobs"]] == _parents()
    again = cli("create", "execution", *P, "--execFile", str(exec_file), "crashy")
    assert again.exit_code == 3 and len(_parents()) == 1
