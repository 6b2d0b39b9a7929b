"""An execution and its relaunches, read as one: the merged phase, children and grid.

A relaunch re-runs some children of a root execution under their original indexes.
For each original index the latest attempt wins: the child of the newest relaunch
that re-ran it, else the root's own. The merged counts are the sum of every
member's counts minus the children a later relaunch superseded, so reading them
costs one count per member plus, once per finished member, the few superseded
children (DescribeJobs by 100 on AWS), never a listing of the whole root.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from batchmap.backends.base import Child, ChildQuery
from batchmap.executions.manifest import SUBMITTED, Manifest
from batchmap.executions.phase import RANK, STATUSES, Phase, phase_of

if TYPE_CHECKING:
    from batchmap.executions.lifecycle import Executions


@dataclass(frozen=True)
class Member:
    """One execution of a family: its own phase and the original indexes it holds the
    latest attempt of."""

    manifest: Manifest
    phase: Phase
    owned: frozenset[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.manifest.name,
            "status": self.phase.to_dict(),
            "indexes": sorted(self.manifest.indexes) if self.manifest.relaunch else None,
            "latestFor": len(self.owned),
        }


@dataclass(frozen=True)
class Family:
    """A root execution, its relaunches (oldest first) and the merged phase."""

    root: Manifest
    members: tuple[Member, ...]
    phase: Phase
    owners: Mapping[int, int] = field(default_factory=dict)  # relaunched index -> member

    @property
    def relaunched(self) -> bool:
        return len(self.members) > 1

    @property
    def relaunches(self) -> tuple[Member, ...]:
        return self.members[1:]

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.manifest.name == name)

    def owner(self, index: int) -> Manifest:
        return self.members[self.owners.get(index, 0)].manifest


@dataclass(frozen=True)
class FamilyChild:
    """A child as the merged view shows it: the latest attempt and whose it is."""

    child: Child
    execution: Manifest

    def to_dict(self) -> dict[str, Any]:
        return {**self.child.to_dict(), "execution": self.execution.name}


def owners_of(members: Sequence[Manifest]) -> dict[int, int]:
    """Relaunched original index -> position of the newest member that re-ran it."""
    owners: dict[int, int] = {}
    for position, member in enumerate(members[1:], start=1):
        for index in member.indexes:
            owners[index] = position
    return owners


def superseded(members: Sequence[Manifest], owners: Mapping[int, int], position: int) -> list[int]:
    """Original indexes of member ``position`` that a later relaunch re-ran."""
    member = members[position]
    if position == 0:
        return sorted(owners)
    return [i for i in member.indexes if owners.get(i) != position]


def merge_counts(
    counts: Sequence[Mapping[str, int]], replaced: Sequence[Iterable[Child]]
) -> dict[str, int]:
    """Sum of every member's counts minus the children later relaunches replaced."""
    total: Counter[str] = Counter({s: 0 for s in STATUSES})
    for c in counts:
        total.update({s: int(n) for s, n in c.items()})
    for children in replaced:
        total.subtract(child.status for child in children)
    return {s: max(0, n) for s, n in total.items()}


def read(executions: Executions, manifest: Manifest) -> Family:
    """The family ``manifest`` belongs to, with its merged phase."""
    root = executions.root_of(manifest)
    members = [root, *executions.relaunches(root)]
    backend = executions.backend(root.backend)
    counts = backend.counts_many(members) if len(members) > 1 else [backend.counts(root)]
    own = [executions.phase_from(m, c) for m, c in zip(members, counts, strict=True)]
    if len(members) == 1:
        return Family(root, (Member(root, own[0], frozenset(root.indexes)),), own[0])
    owners = owners_of(members)
    replaced = [
        executions.children_at(m, superseded(members, owners, p), own[p].done)
        for p, m in enumerate(members)
    ]
    total = merge_counts(counts, replaced)
    result = []
    aborted = False
    for p, m in enumerate(members):
        owned = frozenset(i for i in m.indexes if owners.get(i, 0) == p)
        result.append(Member(m, own[p], owned))
        unsucceeded = (m.size - own[p].succeeded) - sum(
            1 for c in replaced[p] if c.status != "SUCCEEDED"
        )
        aborted = aborted or (m.terminated is not None and unsucceeded > 0)
    phase = phase_of(total, root.size, root.min_successes, aborted=aborted)
    return Family(root, tuple(result), phase, owners)


def children(executions: Executions, family: Family, query: ChildQuery) -> list[FamilyChild]:
    """The merged children ``query`` asks for: non-succeeded first, then by index."""
    found: list[FamilyChild] = []
    for member in family.members:
        manifest = member.manifest
        if query.indexes:
            wanted = frozenset(i for i in query.indexes if i in member.owned)
            if not wanted:
                continue
            q = ChildQuery(query.statuses, wanted, None)
        else:
            lost = len(manifest.indexes) - len(member.owned)
            limit = None if query.limit is None else query.limit + lost
            q = ChildQuery(query.statuses, frozenset(), limit)
        found += [
            FamilyChild(c, manifest)
            for c in executions.children(manifest, q)
            if c.index in member.owned
        ]
    found.sort(key=lambda fc: (RANK.get(fc.child.status, 9), fc.child.index))
    return found[: query.limit] if query.limit is not None else found


def grid(executions: Executions, family: Family) -> list[str]:
    """Every original index's latest status (the status grid)."""
    root = family.members[0]
    cells = executions.statuses(root.manifest)
    for member in family.relaunches:
        own = executions.statuses(member.manifest)
        for position, index in enumerate(member.manifest.indexes):
            if index in member.owned and position < len(own) and index < len(cells):
                cells[index] = own[position]
    return cells


@dataclass(frozen=True)
class Detail:
    """One execution as `get execution NAME` shows it: a root's phase and children are
    merged with its relaunches (for each index, the latest attempt); a relaunch's are
    its own."""

    manifest: Manifest
    family: Family
    phase: Phase
    children: list[FamilyChild]

    @property
    def own(self) -> Phase:
        return self.family.member(self.manifest.name).phase

    @property
    def merged(self) -> bool:
        return self.family.relaunched and not self.manifest.relaunch


def detail(executions: Executions, manifest: Manifest, query: ChildQuery) -> Detail:
    """What `get execution NAME` shows. A finished execution no writer settled yet is
    shown FINISHED with its end time (read, never written)."""
    rows: list[Child] | None = None
    if not manifest.relaunch and not manifest.relaunches:
        # a root without relaunches: its phase and its rows from one read of the execution
        # (on AWS, one DescribeJobs of its array jobs for both)
        phase, rows = executions.snapshot(manifest, query)
        family = Family(manifest, (Member(manifest, phase, frozenset(manifest.indexes)),), phase)
    else:
        family = read(executions, manifest)
    own = family.member(manifest.name).phase
    if manifest.state == SUBMITTED and own.succeeded + own.failed >= own.size:
        manifest = executions.ended(manifest)
        members = [
            replace(m, manifest=manifest) if m.manifest.name == manifest.name else m
            for m in family.members
        ]
        family = replace(family, members=tuple(members))
        if not manifest.relaunch:
            family = replace(family, root=manifest)
    if manifest.relaunch or not family.relaunched:
        phase = family.member(manifest.name).phase
        if rows is None:
            rows = executions.children(manifest, query)
        found = [FamilyChild(c, manifest) for c in rows]
    else:
        phase = family.phase
        found = children(executions, family, query)
    return Detail(manifest, family, phase, found)
