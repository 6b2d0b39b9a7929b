"""Execution views shared by `create execution --wait`, `get execution` and `logs`:
the children table's columns, the header, and the loop that waits for the end."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from batchmap.backends.base import Child, ChildQuery
from batchmap.cli.output import Column, Output
from batchmap.errors import BelowSuccessRatioError
from batchmap.executions.model import Manifest, Phase, parse_time, phase_of

POLL_SECONDS = 1.0


def duration(start: dt.datetime | None, stop: dt.datetime | None) -> str:
    if start is None:
        return ""
    end = stop or dt.datetime.now(dt.timezone.utc)
    seconds = max(0, int((end - start).total_seconds()))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def child_row(child: Child, links: Callable[[Child], list[str]] | None = None) -> dict[str, Any]:
    return {
        "index": child.index,
        "status": child.status,
        "attempts": len(child.attempts),
        "exitCode": child.exit_code,
        "reason": child.reason,
        "started": child.started_at,
        "duration": duration(child.started_at, child.stopped_at),
        "logs": "\n".join(links(child)) if links else "",
    }


CHILD_COLUMNS = [
    Column("INDEX", "index", justify="right", no_wrap=True),
    Column("STATUS", "status", no_wrap=True),
    Column("ATTEMPTS", "attempts", justify="right"),
    Column("EXIT", "exitCode", justify="right"),
    Column("REASON", "reason"),
    Column("STARTED", "started", no_wrap=True),
    Column("DURATION", "duration", justify="right"),
    Column("LOGS", "logs"),
]


def phase_for(backend: Any, manifest: Manifest) -> Phase:
    return phase_of(backend.counts(manifest), manifest.size, manifest.min_successes)


def header_lines(manifest: Manifest, phase: Phase, links: list[str]) -> list[str]:
    data = manifest.data
    lp = data["launchPlan"]
    lines = [
        f"execution   {manifest.project}/{manifest.domain}/{manifest.name}",
        f"phase       {phase.describe()}",
        f"launch plan {lp['name']} {lp['version']}",
        f"backend     {manifest.backend}",
    ]
    if data.get("queue"):
        lines.append(f"queue       {data['queue']['name']} ({data['queue']['reason']})")
    if data.get("iamRoleARN"):
        lines.append(f"IAM role    {data['iamRoleARN']}")
    for job in data.get("jobs") or []:
        lines.append(f"job         {job['jobId']} ({job['size']} children from {job['offset']})")
    if (data.get("local") or {}).get("directory"):
        lines.append(f"directory   {data['local']['directory']}")
    created = parse_time(data.get("createdAt"))
    if created:
        lines.append(f"created     {created:%Y-%m-%dT%H:%M:%SZ}")
    lines += [f"console     {link}" for link in links]
    return lines


def progress_table(manifest: Manifest, phase: Phase, children: list[Child]) -> Any:
    from rich.console import Group
    from rich.text import Text

    title = Text(f"{manifest.name}  {phase.describe()}")
    rows = [child_row(c) for c in children]
    return Group(title, Output.make_table(CHILD_COLUMNS[:7], rows))


def wait(
    backend: Any,
    manifest: Manifest,
    out: Output,
    *,
    store: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = POLL_SECONDS,
    limit: int = 15,
) -> Phase:
    """Show progress until the execution ends; raise BelowSuccessRatioError (exit 7) on failure."""
    last = None
    with out.live() as update:
        while True:
            phase = phase_for(backend, manifest)
            if out.interactive:
                children = backend.children(manifest, ChildQuery(limit=limit))
                update(progress_table(manifest, phase, children))
            elif phase.describe() != last:
                out.info(phase.describe())
            last = phase.describe()
            if phase.done:
                break
            sleep(poll)
    finish = getattr(backend, "wait_foreground", None)
    if finish is not None:
        finish(manifest)
    if store is not None:
        settle(store, backend, manifest, backend.counts(manifest))
    return check(phase)


def check(phase: Phase) -> Phase:
    if phase.phase == "FAILED":
        raise BelowSuccessRatioError(
            f"execution failed: {phase.succeeded} of {phase.size} children succeeded, "
            f"{phase.min_successes} needed ({phase.failed} failed)"
        )
    return phase


def settle(store: Any, backend: Any, manifest: Manifest, counts: Any) -> None:
    """Let the backend clean up a finished execution and record it (best effort)."""
    from batchmap.errors import BatchmapError
    from batchmap.executions.model import save

    try:
        done = backend.cleanup(manifest, counts)
        if done:
            manifest.data.update(done)
            save(store, manifest)
    except BatchmapError:
        pass


def wait_terminal(
    backend: Any,
    manifest: Manifest,
    *,
    timeout: float = 600,
    sleep: Callable[[float], None] = time.sleep,
    poll: float = 2.0,
) -> dict:
    """Poll until every child is terminal (after a termination); the last counts."""
    waited = 0.0
    while True:
        counts = backend.counts(manifest)
        if counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0) >= manifest.size or (
            waited >= timeout
        ):
            return dict(counts)
        sleep(poll)
        waited += poll
