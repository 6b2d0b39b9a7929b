"""What one refresh costs in AWS calls and clients (moto): pinned as counts, never as time."""

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from batchmap.aws.clients import ClientFactory
from tests.aws_account import register_with_items, set_job
from tests.conftest import Invoke

P = ("-p", "flytesnacks", "-d", "development")


@pytest.fixture
def traffic(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Counter[str], Counter[str]]]:
    """(calls by operation, clients built by service) of every ClientFactory."""
    calls: Counter[str] = Counter()
    built: Counter[str] = Counter()
    real = ClientFactory.client

    def client(self, service, **kwargs):  # type: ignore[no-untyped-def]
        made = real(self, service, **kwargs)
        if not getattr(made, "_counted", False):
            built[service] += 1
            made.meta.events.register("before-call", lambda model, **_: calls.update([model.name]))
            made._counted = True
        return made

    monkeypatch.setattr(ClientFactory, "client", client)
    yield calls, built


@pytest.mark.usefixtures("aws")
def test_get_execution_describes_the_parents_once(
    cli: Invoke, traffic: tuple[Counter[str], Counter[str]]
) -> None:
    exec_file = register_with_items(cli, 1_000, name="big")
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "big", "-o", "json")
    parent = json.loads(created.stdout)["jobs"][0]["jobId"]
    for i in range(0, 1_000, 10):
        set_job(f"{parent}:{i}", "FAILED", 1, "Essential container in task exited")
    set_job(f"{parent}:1", "RUNNING")  # still running: the refresh of a live execution
    set_job(parent, "PENDING")
    calls, built = traffic
    calls.clear()
    built.clear()
    result = cli("get", "execution", *P, "big", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"]["failed"] == 100
    assert [c["index"] for c in data["children"]] == list(range(0, 500, 10))
    # the manifest and its relaunch records, the parents once (counts and which statuses
    # to list), one page of FAILED children, and the 50 rows shown
    assert calls == Counter(GetObject=1, ListObjectsV2=1, DescribeJobs=2, ListJobs=1)
    assert built == Counter(s3=1, batch=1)


@pytest.mark.usefixtures("aws")
def test_a_small_map_is_described_whole(
    cli: Invoke, traffic: tuple[Counter[str], Counter[str]]
) -> None:
    """100 children in three statuses: one DescribeJobs of them all, not a ListJobs per
    status and a DescribeJobs of the rows (what a by-hand script does, and one call)."""
    exec_file = register_with_items(cli, 100, name="small")
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "small", "-o", "json")
    parent = json.loads(created.stdout)["jobs"][0]["jobId"]
    for i in range(0, 100, 10):
        set_job(f"{parent}:{i}", "FAILED", 3, "Essential container in task exited")
    set_job(f"{parent}:1", "RUNNING")
    set_job(parent, "PENDING")
    calls, _ = traffic
    calls.clear()
    result = cli("get", "execution", *P, "small", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    shown = [(c["index"], c["status"], c["exitCode"]) for c in data["children"]]
    assert shown[:11] == [(i, "FAILED", 3) for i in range(0, 100, 10)] + [(1, "RUNNING", None)]
    assert len(shown) == 50 and all(s == "SUCCEEDED" for _, s, _ in shown[11:])
    assert calls == Counter(GetObject=1, ListObjectsV2=1, DescribeJobs=2)


@pytest.mark.usefixtures("aws")
def test_a_submission_builds_one_client_per_service(
    cli: Invoke, traffic: tuple[Counter[str], Counter[str]]
) -> None:
    exec_file = register_with_items(cli, 10, name="few")
    calls, built = traffic
    built.clear()
    calls.clear()
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "few")
    assert created.exit_code == 0, created.stderr
    # batch twice: the second is the client that never retries SubmitJob (not idempotent)
    assert built == Counter(s3=1, batch=2, iam=1, sts=1)
    # A first submission has no revision of its own to look up (a revision names its
    # execution), and what it prints reads the new job once.
    assert calls["DescribeJobDefinitions"] == 0 and calls["RegisterJobDefinition"] == 1
    assert calls["SubmitJob"] == 1 and calls["DescribeJobs"] == 1


@pytest.mark.usefixtures("aws")
def test_reads_that_do_not_wait_on_each_other_are_made_at_once(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small map's `get execution` makes its four calls in two rounds: the manifest with
    its relaunch records, then the parent with its children. Each call of a round waits
    at a barrier for the other: made one after the other, the barrier would break."""
    import threading

    exec_file = register_with_items(cli, 100, name="small")
    created = cli("create", "execution", *P, "--execFile", str(exec_file), "small", "-o", "json")
    assert created.exit_code == 0, created.stderr
    rounds = {"GetObject": "s3", "ListObjectsV2": "s3", "DescribeJobs": "batch"}
    barriers = {"s3": threading.Barrier(2, timeout=10), "batch": threading.Barrier(2, timeout=10)}
    met: Counter[str] = Counter()
    real = ClientFactory.client

    def meet(model, **_):  # type: ignore[no-untyped-def]
        if model.name in rounds:
            barriers[rounds[model.name]].wait()  # BrokenBarrierError if alone
            met[model.name] += 1

    def client(self, service, **kwargs):  # type: ignore[no-untyped-def]
        made = real(self, service, **kwargs)
        if not getattr(made, "_met", False):
            made.meta.events.register("before-call", meet)
            made._met = True
        return made

    monkeypatch.setattr(ClientFactory, "client", client)
    result = cli("get", "execution", *P, "small", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert met == Counter(GetObject=1, ListObjectsV2=1, DescribeJobs=2)
