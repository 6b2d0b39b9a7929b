"""Where moto's AWS Batch answers differ from AWS's in a way that would change what
batchmap shows, moto is brought to AWS's documented answer (notes/aws-moto.md §2.5).
Applied once per process by the tests' account (tests/aws_account.py) and by the
benchmark's server (benchmarks/motoserver.py)."""

from __future__ import annotations

from typing import Any


def apply() -> None:
    from moto.batch.models import Job

    if getattr(Job, "_batchmap_patched", False):
        return
    original = Job._get_container_property

    def container_property(self: Any, prop: str, default: Any) -> Any:
        """moto appends AWS_BATCH_JOB_ID to a shared override list on every DescribeJobs:
        copy the list per call so responses stay the same size."""
        if prop == "environment" and "environment" in self.container_overrides:
            saved = self.container_overrides["environment"]
            self.container_overrides["environment"] = [dict(e) for e in saved]
            try:
                return original(self, prop, default)
            finally:
                self.container_overrides["environment"] = saved
        return original(self, prop, default)

    describe = Job.describe

    def described(self: Any) -> dict[str, Any]:
        """AWS's DescribeJobs gives a stopped container job's ``container.exitCode``;
        moto's drops it (its ListJobs keeps it)."""
        result: dict[str, Any] = describe(self)
        if self.job_stopped and self.exit_code is not None and "container" in result:
            result["container"]["exitCode"] = self.exit_code
        return result

    Job._get_container_property = container_property
    Job.describe = described
    Job._batchmap_patched = True
