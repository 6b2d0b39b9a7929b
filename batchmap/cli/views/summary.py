"""The summary printed at the end of a wait (on a terminal and in CI alike), on stderr:
the result against the minimum, the failed children, wall time, and the commands to
run next. ``-o json|yaml`` gets the same data as an object on stdout."""

from __future__ import annotations

from batchmap import times
from batchmap.cli.output import Output
from batchmap.cli.tables import Column
from batchmap.executions.summary import Summary

FAILED_COLUMNS = [
    Column("INDEX", "index", justify="right"),
    Column("ATTEMPTS", "attempts", justify="right"),
    Column("EXIT", "exitCode", justify="right"),
    Column("REASON", "reason", flex=True),
    Column("EXECUTION", "execution", drop=1),
]


def result_line(summary: Summary) -> str:
    phase = summary.phase
    percent = f"{100 * phase.succeeded / phase.size:.0f}%" if phase.size else "-"
    merged = (
        f" (merged with {len(summary.family.relaunches)} relaunch"
        f"{'es' if len(summary.family.relaunches) != 1 else ''})"
        if summary.family.relaunched
        else ""
    )
    return (
        f"{phase.phase}{merged}: {phase.succeeded} of {phase.size} children succeeded "
        f"({percent}), {phase.min_successes} needed (minSuccessRatio {summary.ratio:g}); "
        f"wall time {times.compact(summary.wall_seconds)}"
    )


def next_commands(summary: Summary, cli: str) -> list[str]:
    """The exact commands to run next (none when nothing failed)."""
    if not summary.phase.failed:
        return []
    root = summary.root
    where = f"-p {root.project} -d {root.domain}"
    owners = list(dict.fromkeys(f.execution for f in summary.failed)) or [root.name]
    commands = [f"{cli} relaunch {where} {root.name} --failed --wait"]
    commands += [f"{cli} logs {where} {name} --status FAILED --tail 20" for name in owners]
    return commands


def show(out: Output, summary: Summary, cli: str = "batchmap") -> None:
    """The summary on stderr."""
    name = summary.execution.name
    out.info(f"── {name}: {result_line(summary)}")
    if summary.family.relaunched:
        for member in summary.family.members:
            m = member.manifest
            role = "relaunch" if m.relaunch else "root"
            out.info(
                f"   {role} {m.name}: {member.phase.phase}, latest attempt of "
                f"{len(member.owned)} of {summary.phase.size} children"
            )
    if summary.failed:
        out.info(f"failed children ({summary.phase.failed}):")
        rows = [f.to_dict() for f in summary.failed]
        columns = FAILED_COLUMNS if summary.family.relaunched else FAILED_COLUMNS[:4]
        out.talk_table(columns, rows)
        if summary.more_failed:
            out.info(f"… and {summary.more_failed} more failed children")
    commands = next_commands(summary, cli)
    if commands:
        out.info("next:")
        for command in commands:
            out.info(f"  {command}")
