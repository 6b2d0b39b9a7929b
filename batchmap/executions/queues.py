"""Which AWS Batch job queue an execution goes to, and why. Pure functions, no AWS.

The rules, in order (docs/queues.md):

1. ``--queue NAME`` wins.
2. ``executionQueueAttributes`` (flytectl's ``update execution-queue-attribute``
   file format, as overrides): the most specific matching entry —
   project+domain+workflow, then project+domain, then project — gives tags.
3. ``queues.workflowConfigs``: an entry matches when every field it sets
   (``project``, ``domain``, ``workflowName``) equals the execution's; the most
   specific wins (workflowName 4, project 2, domain 1, summed) and among equally
   specific entries **the later one**, as in FlyteAdmin's ``GetQueue``, which
   walks every entry and keeps the last match. An entry with no tags does not
   count (FlyteAdmin then falls back to the default entry's tags); an entry
   with no fields is the default. With only ``domain`` and ``tags`` (FlyteAdmin's
   current ``WorkflowConfig``) this is FlyteAdmin's rule exactly; ``project``
   and ``workflowName`` are the guide's fields, which FlyteAdmin ignores.
4. The chosen entry's tags are tried in order; a tag no queue carries is
   skipped, and the first tag that some execution queue carries wins. Several
   queues with that tag: one is picked from a stable hash of the execution
   name (spreads load, reproducible; FlyteAdmin picks at random). As in
   FlyteAdmin, when no tag of the chosen entry has a queue, no queue is chosen.
5. Nothing matches: NotFoundError (exit 4) with the explanation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchmap.errors import NotFoundError

WEIGHTS = {"workflowName": 4, "project": 2, "domain": 1}


@dataclass(frozen=True)
class Step:
    """One rule or entry that was considered, and what came of it."""

    rule: str
    entry: str
    matched: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "entry": self.entry, "matched": self.matched, "why": self.why}


class NoQueueError(NotFoundError):
    """No rule picked a queue; ``steps`` says what was tried."""

    def __init__(self, steps: tuple[Step, ...], message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.steps = steps


@dataclass(frozen=True)
class QueueChoice:
    queue: str
    rule: str
    tag: str | None
    reason: str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "rule": self.rule,
            "tag": self.tag,
            "reason": self.reason,
            "steps": [s.to_dict() for s in self.steps],
        }


def tag_index(execution_queues: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """tag -> queues carrying it, in config order (a queue listed twice counts twice)."""
    index: dict[str, list[str]] = {}
    for queue in execution_queues:
        if not queue.get("dynamic"):  # FlyteAdmin would route to an empty queue name
            continue
        for tag in queue.get("attributes") or []:
            index.setdefault(tag, []).append(queue["dynamic"])
    return index


def pick(queues: Sequence[str], execution: str) -> str:
    """A stable choice among several queues: same execution name, same queue."""
    if len(queues) == 1:
        return queues[0]
    digest = hashlib.sha256(execution.encode()).digest()
    return queues[int.from_bytes(digest[:8], "big") % len(queues)]


def _describe(entry: Mapping[str, Any], keys: Sequence[str]) -> str:
    fields = [f"{k}={entry[k]}" for k in keys if entry.get(k)]
    return " ".join(fields) if fields else "(default: no fields)"


def _try_tags(
    tags: Sequence[str], index: Mapping[str, list[str]], execution: str
) -> tuple[str, str] | None:
    for tag in tags:
        if index.get(tag):
            return tag, pick(index[tag], execution)
    return None


def choose_queue(
    *,
    project: str,
    domain: str,
    workflow: str,
    execution: str,
    queues: Mapping[str, Any],
    attributes: Sequence[Mapping[str, Any]] = (),
    explicit: str | None = None,
) -> QueueChoice:
    """The queue for an execution, with every step that led there."""
    steps: list[Step] = []
    if explicit:
        return QueueChoice(
            explicit,
            "--queue",
            None,
            f"--queue {explicit}",
            (Step("--queue", explicit, True, "given on the command line"),),
        )
    index = tag_index(queues.get("executionQueues") or [])

    # 2. per-project/domain/workflow overrides (flytectl's execution-queue-attribute)
    ranked = []
    for i, entry in enumerate(attributes):
        label = f"executionQueueAttributes[{i}] " + _describe(
            entry, ("project", "domain", "workflow")
        )
        mismatch = [
            k
            for k, v in (("project", project), ("domain", domain), ("workflow", workflow))
            if entry.get(k) and entry[k] != v
        ]
        if entry.get("workflow") and not entry.get("domain"):
            mismatch.append("workflow needs domain")
        if mismatch or not entry.get("project"):
            steps.append(
                Step(
                    "executionQueueAttributes",
                    label,
                    False,
                    f"{', '.join(mismatch) or 'project'} does not match",
                )
            )
            continue
        ranked.append(
            (sum(1 for k in ("project", "domain", "workflow") if entry.get(k)), -i, label, entry)
        )
    if ranked:
        _, _, label, entry = max(ranked)
        found = _try_tags(entry.get("tags") or [], index, execution)
        if found:
            tag, queue = found
            steps.append(Step("executionQueueAttributes", label, True, f"tag {tag!r} → {queue}"))
            return QueueChoice(
                queue, "executionQueueAttributes", tag, f"{label}: tag {tag!r}", tuple(steps)
            )
        steps.append(
            Step(
                "executionQueueAttributes",
                label,
                False,
                "most specific match, but none of its tags names a queue",
            )
        )

    # 3. workflowConfigs: the most specific match, the later among equals (FlyteAdmin)
    candidates = []
    for i, entry in enumerate(queues.get("workflowConfigs") or []):
        label = f"workflowConfigs[{i}] " + _describe(entry, ("project", "domain", "workflowName"))
        mismatch = [
            k
            for k, v in (("project", project), ("domain", domain), ("workflowName", workflow))
            if entry.get(k) and entry[k] != v
        ]
        if mismatch:
            steps.append(
                Step("workflowConfigs", label, False, f"{', '.join(mismatch)} does not match")
            )
            continue
        if not entry.get("tags"):
            steps.append(Step("workflowConfigs", label, False, "matches, but has no tags"))
            continue
        weight = sum(w for k, w in WEIGHTS.items() if entry.get(k))
        candidates.append((weight, i, label, entry))
    candidates.sort(key=lambda c: (-c[0], -c[1]))
    for weight, _, label, _ in candidates[1:]:
        steps.append(
            Step(
                "workflowConfigs",
                label,
                False,
                f"matches (specificity {weight}), but {candidates[0][2].split()[0]} wins",
            )
        )
    if candidates:
        weight, _, label, entry = candidates[0]
        found = _try_tags(entry["tags"], index, execution)
        if found:
            tag, queue = found
            many = len(index[tag])
            how = f" (1 of {many} queues with that tag, by execution name)" if many > 1 else ""
            skipped = entry["tags"][: entry["tags"].index(tag)]
            before = f"tags {', '.join(map(repr, skipped))} name no queue; " if skipped else ""
            steps.append(
                Step(
                    "workflowConfigs",
                    label,
                    True,
                    f"specificity {weight}; {before}tag {tag!r} → {queue}{how}",
                )
            )
            return QueueChoice(
                queue, "workflowConfigs", tag, f"{label}: tag {tag!r}{how}", tuple(steps)
            )
        steps.append(
            Step(
                "workflowConfigs",
                label,
                False,
                f"chosen (specificity {weight}), but no queue has its tags "
                f"{', '.join(entry['tags'])}",
            )
        )
    raise NoQueueError(
        tuple(steps),
        f"no job queue matches project={project} domain={domain} workflow={workflow}",
        hint="; ".join(f"{s.entry}: {s.why}" for s in steps[-4:])
        or "the config has no queues: add queues.executionQueues and workflowConfigs, or pass "
        "--queue",
    )
