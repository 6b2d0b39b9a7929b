"""Parts of an execution's look shared by the terminal views and the HTML report: the
header lines, the duration, and the log links of a child."""

from __future__ import annotations

from batchmap import times
from batchmap.backends.base import Child
from batchmap.cli.selection import format_indexes
from batchmap.cli.tables import Links
from batchmap.executions.family import Detail
from batchmap.executions.manifest import Manifest
from batchmap.executions.phase import Phase


def duration(manifest: Manifest, phase: Phase) -> str:
    """How long it ran: to its end once finished, else until now."""
    if phase.done and manifest.finished_at is None and phase.phase != "ABORTED":
        return ""  # ended, but its end is not known yet
    return times.elapsed(manifest.created_at, manifest.finished_at)


def header_lines(detail: Detail, links: list[str]) -> list[str]:
    manifest, phase = detail.manifest, detail.phase
    lp = manifest.launch_plan
    lines = [f"execution   {manifest.project}/{manifest.domain}/{manifest.name}"]
    if detail.merged:
        count = len(detail.family.relaunches)
        lines.append(
            f"phase       {phase.describe()} (merged with {count} relaunch{'es' * (count != 1)})"
        )
        lines.append(f"own phase   {detail.own.describe()}")
    else:
        lines.append(f"phase       {phase.describe()}")
    if manifest.relaunch:
        family = detail.family
        lines.append(
            f"relaunch of {manifest.relaunch.of} (root {family.root.name}: "
            f"{family.phase.phase} merged, {family.phase.succeeded} of {family.root.size} "
            "succeeded)"
        )
    for member in detail.family.relaunches if detail.merged else ():
        m = member.manifest
        lines.append(
            f"relaunch    {m.name}: {member.phase.phase}, {len(m.indexes)} children "
            f"({format_indexes(list(m.indexes), 40)})"
        )
    lines += [f"launch plan {lp.name} {lp.version}", f"backend     {manifest.backend}"]
    if manifest.queue:
        lines.append(f"queue       {manifest.queue.name} ({manifest.queue.reason})")
    if manifest.iam_role_arn:
        lines.append(f"IAM role    {manifest.iam_role_arn}")
    for job in manifest.run.get("jobs") or []:
        lines.append(f"job         {job['jobId']} ({job['size']} children from {job['offset']})")
    directory = (manifest.run.get("local") or {}).get("directory")
    if directory:
        lines.append(f"directory   {directory}")
    lines.append(f"created     {times.shown(manifest.created_at)}")
    if manifest.finished_at:
        lines.append(
            f"finished    {times.shown(manifest.finished_at)} (took {duration(manifest, phase)})"
        )
    if manifest.terminated:
        lines.append(
            f"aborted     {times.shown(manifest.terminated.at)}: {manifest.terminated.reason}"
        )
    lines += [f"console     {link}" for link in links]
    return lines


def log_links(child: Child, links: list[str]) -> Links:
    """(label, target) per log: Flyte Console's "AWS Batch #3-0 (PhaseSuccess) URL" (the
    aws_array plugin's names, kept whole), or a local log file."""
    out = []
    for n, link in enumerate(links, start=1):
        label, _, target = link.rpartition(" ")
        if not label:
            attempt = child.last.number if child.last else n
            label = f"#{child.index}-{attempt - 1}"
        out.append((label, target))
    return tuple(out)
