"""How registered launch plans look (`register files`)."""

from __future__ import annotations

from batchmap.api import Registered
from batchmap.cli.output import Output
from batchmap.cli.tables import Column

REGISTERED_COLUMNS = [
    Column("NAME", "name"),
    Column("VERSION", "version"),
    Column("PROJECT", "project"),
    Column("DOMAIN", "domain"),
    Column("STATUS", "status"),
]


def registered(out: Output, done: Registered, where: str) -> None:
    from batchmap.launchplans.registry import plan_summary

    for name, why in done.skipped:
        out.warn(f"Flyte launch plan {name} not registered: {why}")
    results = done.registrations
    for r in results:
        for note in done.notes.get(r.plan.key, []):
            out.info(f"{r.plan.name}: {note}")
    rows = [
        {
            **plan_summary(r.plan),
            "project": r.plan.project,
            "domain": r.plan.domain,
            "status": r.status,
        }
        for r in results
    ]
    out.data(
        [
            {
                "status": r.status,
                "launchPlan": r.plan.to_dict(),
                "notes": done.notes.get(r.plan.key, []),
            }
            for r in results
        ],
        columns=REGISTERED_COLUMNS,
        rows=rows,
    )
    new = sum(r.status == "registered" for r in results)
    out.success(f"{new} registered, {len(results) - new} unchanged in {where}")
