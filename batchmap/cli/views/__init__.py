"""How batchmap's executions look. Every function renders what the library returned;
none decides. ``executions`` (plans, headers, tables, listings), ``live`` (the live
view and CI progress of a wait), ``summary`` (the end of a wait), ``grid`` (the status
grid) and ``html`` (the report page)."""

from batchmap.cli.views.executions import (
    dry_run,
    execution,
    listing,
    notes,
    outputs,
    submitted,
    terminated,
)
from batchmap.cli.views.launchplans import registered
from batchmap.cli.views.live import wait

__all__ = [
    "dry_run",
    "execution",
    "listing",
    "notes",
    "outputs",
    "registered",
    "submitted",
    "terminated",
    "wait",
]
