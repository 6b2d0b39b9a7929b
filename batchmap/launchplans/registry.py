"""Registered launch plans, in a local folder or under an ``s3://`` prefix.

Layout: ``PROJECT/DOMAIN/launchplans/NAME/VERSION.json``. Versions are
immutable: registering the same version again with the same content is a
no-op, with different content an error that names the differences.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from batchmap import times
from batchmap.errors import InvalidInputError, NotFoundError
from batchmap.files.safe import strict_json
from batchmap.files.store import AlreadyExists, BlobStore
from batchmap.launchplans.model import LaunchPlan, canonical_json, spec_differences

API_VERSION = "batchmap/v1"


@dataclass(frozen=True)
class Registration:
    plan: LaunchPlan
    status: str  # registered | unchanged


class Registry:
    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.broken: list[InvalidInputError] = []  # what the last listing could not read

    @staticmethod
    def key(project: str, domain: str, name: str, version: str) -> str:
        return f"{project}/{domain}/launchplans/{name}/{version}.json"

    def _load(self, data: bytes, where: str) -> LaunchPlan:
        try:
            record = strict_json(data)
            created = times.parse_iso(record["createdAt"])
            return LaunchPlan.from_spec(record["spec"], created)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInputError(
                f"{where}: corrupt registry entry ({type(exc).__name__}: {exc})",
                hint="register the launch plan again under a new --version",
            ) from None

    def _encode(self, plan: LaunchPlan, created: dt.datetime) -> bytes:
        record = {
            "apiVersion": API_VERSION,
            "kind": "LaunchPlan",
            "createdAt": times.iso(created),
            "spec": plan.spec_dict(),
        }
        return (json.dumps(record, indent=2) + "\n").encode()

    def find(self, project: str, domain: str, name: str, version: str) -> LaunchPlan | None:
        key = self.key(project, domain, name, version)
        data = self.store.get(key)
        return self._load(data, self.store.uri(key)) if data is not None else None

    def conflicts(self, plans: Sequence[LaunchPlan]) -> list[str]:
        """One line per plan whose version exists with other content."""
        lines = []
        for plan in plans:
            existing = self.find(*plan.key)
            if existing is not None:
                diff = spec_differences(existing.spec_dict(), plan.spec_dict())
                if diff:
                    lines.append(
                        f"{'/'.join(plan.key)} is already registered with different content: "
                        + "; ".join(diff[:5])
                        + (f"; and {len(diff) - 5} more" if len(diff) > 5 else "")
                    )
        return lines

    def register(
        self, plans: Sequence[LaunchPlan], now: dt.datetime | None = None
    ) -> list[Registration]:
        """Register all or nothing: every conflict is found before anything is written."""
        conflicts = self.conflicts(plans)
        if conflicts:
            raise InvalidInputError(
                conflicts[0]
                if len(conflicts) == 1
                else f"{len(conflicts)} versions conflict: " + " | ".join(conflicts),
                hint="versions are immutable: register the change under a new --version",
            )
        created = now or times.now()
        results = []
        for plan in plans:
            key = self.key(*plan.key)
            try:
                self.store.put(key, self._encode(plan, created), exclusive=True)
                stored = LaunchPlan.from_spec(plan.spec_dict(), created)
                results.append(Registration(stored, "registered"))
            except AlreadyExists:
                existing = self.find(*plan.key)
                assert existing is not None
                if canonical_json(existing.spec_dict()) != canonical_json(plan.spec_dict()):
                    raise InvalidInputError(
                        f"{'/'.join(plan.key)} was registered concurrently with other content",
                        hint="versions are immutable: register the change under a new --version",
                    ) from None
                results.append(Registration(existing, "unchanged"))
        return results

    def _all(self, prefix: str) -> list[LaunchPlan]:
        """Every readable version under ``prefix``; the unreadable ones, each an error that
        names it, go to ``self.broken`` (one damaged entry never hides the others)."""
        plans = []
        self.broken = []
        for key in self.store.list(prefix):
            if key.endswith(".json") and "/launchplans/" in key:
                try:
                    data = self.store.get(key)
                    if data is not None:
                        plans.append(self._load(data, self.store.uri(key)))
                except InvalidInputError as exc:
                    self.broken.append(exc)
        plans.sort(key=lambda p: (p.created_at or dt.datetime.min, p.version), reverse=True)
        return plans

    def list(self, project: str, domain: str) -> list[LaunchPlan]:
        """Every version of every launch plan of a project and domain, newest first."""
        return self._all(f"{project}/{domain}/launchplans")

    def versions(self, project: str, domain: str, name: str) -> list[LaunchPlan]:
        """Every version of one launch plan, newest first."""
        plans = self._all(f"{project}/{domain}/launchplans/{name}")
        if not plans:
            others = sorted({p.name for p in self.list(project, domain)})
            hint = (
                f"launch plans in {project}/{domain}: {', '.join(others)}"
                if others
                else "register one with 'batchmap register files FILE'"
            )
            raise NotFoundError(f"launch plan {name!r} not found in {project}/{domain}", hint=hint)
        return plans

    def get(self, project: str, domain: str, name: str, version: str | None = None) -> LaunchPlan:
        """One version (the newest when ``version`` is None); NotFoundError lists what exists."""
        if version is None:
            return self.versions(project, domain, name)[0]
        plan = self.find(project, domain, name, version)
        if plan is None:
            existing = [p.version for p in self.versions(project, domain, name)]
            raise NotFoundError(
                f"launch plan {name!r} has no version {version!r} in {project}/{domain}",
                hint=f"versions: {', '.join(existing[:10])}"
                + (f" (and {len(existing) - 10} more)" if len(existing) > 10 else ""),
            )
        return plan


def plan_summary(plan: LaunchPlan) -> dict[str, Any]:
    """A table row."""
    return {
        "version": plan.version,
        "name": plan.name,
        "workflow": plan.workflow,
        "inputs": ", ".join(plan.inputs),
        "over": ", ".join(plan.map.over),
        "createdAt": plan.created_at,
    }
