"""`batchmap logs`."""

from collections import defaultdict, deque
from typing import Annotated, Any

import typer

from batchmap.cli.context import app_state
from batchmap.cli.options import DomainOpt, IndexOpt, NameArg, OutputOpt, ProjectOpt, StatusOpt
from batchmap.cli.output import OutputFormat, to_json

FAILED_TAIL_LINES = 20
FAILED_TAIL_CHILDREN = 10
MAX_TAIL = 10**9


def _label(event: Any) -> str:
    return f"[{event.index}]" if event.attempt == 1 else f"[{event.index}#{event.attempt}]"


def _format(event: Any, out: Any, timestamps: bool) -> str:
    if out.format is OutputFormat.json:
        return to_json(event.to_dict()).replace("\n", "").replace("  ", " ")
    stamp = (
        f"{event.timestamp:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z "
        if (timestamps and event.timestamp)
        else ""
    )
    return f"{stamp}{_label(event)} {event.message}"


def logs(
    ctx: typer.Context,
    project: ProjectOpt,
    domain: DomainOpt,
    name: NameArg,
    index: IndexOpt = None,
    status: StatusOpt = None,
    attempt: Annotated[
        int | None,
        typer.Option(
            "--attempt", help="Only this attempt (1 is the first).", show_default=False, min=1
        ),
    ] = None,
    tail: Annotated[
        int | None,
        typer.Option(
            "--tail",
            help="Only the last N lines of each child.",
            show_default=False,
            min=0,
            max=MAX_TAIL,
            clamp=True,  # --tail 10**20 means "all of them", not an overflow
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only lines since then: 10m, 2h, 1d or an ISO-8601 time (local backend: "
            "attempts running since then).",
            show_default=False,
        ),
    ] = None,
    timestamps: Annotated[
        bool,
        typer.Option(
            "--timestamps", help="Prefix each line with its time (where the backend records one)."
        ),
    ] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Stream until the execution ends; exit 0, or 7 below the success ratio.",
        ),
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Print the children's log lines, each prefixed by its index: [17] ...

    With --follow, new lines and new children's logs appear as they are
    written, until the execution ends; then the last lines of failed children
    are repeated and the exit code says whether the success ratio was met.
    -o json prints one JSON object per line (index, attempt, timestamp, message).

    Examples:

    \b
      batchmap logs -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a
      batchmap logs -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --status FAILED --tail 20
      batchmap logs -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --follow
      batchmap logs -p flytesnacks -d development f3kq0l2m9x8c7v6b5n4a --since 10m -o json
    """
    from batchmap.backends.base import LogCursor, LogQuery
    from batchmap.cli.selection import parse_indexes, parse_since, parse_statuses

    state = app_state(ctx)
    out = state.output(output)
    executions = state.executions
    manifest = executions.get(project, domain, name)
    query = LogQuery(
        statuses=parse_statuses(status),
        indexes=parse_indexes(index, manifest.size if not manifest.relaunch else None),
        attempt=attempt,
        since=parse_since(since),
    )
    if not follow:
        events = executions.logs(manifest, query, LogCursor())
        out.lines(_format(e, out, timestamps) for e in _tail(events, tail))
        if not events:
            _say_empty(out, executions, manifest, query)
        return
    _follow(out, executions, manifest, query, stamps=timestamps)


def _follow(out: Any, executions: Any, manifest: Any, query: Any, *, stamps: bool) -> None:
    """Stream until the end; then the failed children's last lines and the exit code."""
    from batchmap.backends.base import ChildQuery
    from batchmap.errors import Interrupted
    from batchmap.executions.lifecycle import require_success

    seen: dict[int, deque[str]] = defaultdict(lambda: deque(maxlen=FAILED_TAIL_LINES))
    # A status line on stderr when a person watches; plain lines only when piped.
    watched = out.interactive and bool(getattr(out.stdout, "isatty", lambda: False)())
    last = ""
    try:
        for phase, events in executions.follow(manifest, query):
            for event in events:
                seen[event.index].append(_label(event) + " " + event.message)
            out.lines(_format(e, out, stamps) for e in events)
            if watched and phase.describe() != last:
                out.info(f"── {phase.describe()}")
                last = phase.describe()
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: stopped following; {manifest.name} continues") from None
    if not seen:
        _say_empty(out, executions, manifest, query)
    if not phase.ok:
        every_failed = ChildQuery(statuses=frozenset({"FAILED"}), limit=None)
        _failed_tails(out, executions.children(manifest, every_failed), seen)
    require_success(phase)


def _say_empty(out: Any, executions: Any, manifest: Any, query: Any) -> None:
    """An empty answer says so (on stderr; exit 0)."""
    from batchmap.backends.base import ChildQuery

    if query.statuses or query.indexes:
        one = ChildQuery(query.statuses, query.indexes, limit=1)
        if not executions.children(manifest, one):
            chosen = ",".join(sorted(query.statuses)) or "the chosen"
            out.info(f"no {chosen} children in {manifest.name}: no log lines")
            return
    out.info(f"no log lines from the children of {manifest.name} (yet)")


def _tail(events: list[Any], tail: int | None) -> list[Any]:
    """At most the last ``tail`` lines of each child, children in index order."""
    if tail is None:
        return events
    kept: dict[int, deque[Any]] = defaultdict(lambda: deque(maxlen=tail))
    for event in events:
        kept[event.index].append(event)
    return [e for i in sorted(kept) for e in kept[i]]


def _failed_tails(out: Any, failed: list[Any], seen: dict[int, deque[str]]) -> None:
    """The last lines of failed children, repeated at the end of a follow."""
    for child in failed[:FAILED_TAIL_CHILDREN]:
        out.info(f"--- child {child.index} failed: {child.reason or 'no reason given'}")
        for line in seen.get(child.index, []):
            out.info(line)
    if len(failed) > FAILED_TAIL_CHILDREN:
        out.info(
            f"--- and {len(failed) - FAILED_TAIL_CHILDREN} more failed children "
            f"(batchmap logs ... --status FAILED)"
        )
