"""The API side of the description: one driver per CloudFormation type.

A driver turns a resource's resolved properties (CloudFormation's names and
shapes) into the calls that read, create and update it, so each resource is
described once (``describe.py``) and made either way. Drivers return data and
raise ``BatchmapError``; they never print.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from batchmap.aws.clients import translate
from batchmap.errors import AwsRefusedError, AwsServiceError, BatchmapError
from batchmap.setup.model import Context

Props = Mapping[str, Any]


@dataclass
class Observed:
    """A resource as the account holds it."""

    attributes: dict[str, str]  # what Ref and GetAtt give, as AWS reports them
    detail: str = ""  # shown when it is as described
    differences: list[str] = field(default_factory=list)  # how it differs from the description
    state: dict[str, Any] = field(default_factory=dict)  # what ``update`` needs


class Driver(Protocol):
    def name(self, props: Props) -> str:
        """The resource's name in `setup`'s table."""

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        """Its Ref and GetAtt values before it exists (names and ARNs are predictable)."""

    def summary(self, props: Props) -> str:
        """What creating it does, in a few words."""

    def read(self, props: Props) -> Observed | None:
        """The resource as it is (None: missing), compared with ``props``. Read-only."""

    def create(self, props: Props) -> dict[str, str]:
        """Create it whole, wait until AWS can use it, and return its attributes.

        A create of several calls (a role, then its policies) that fails after the
        first undoes what it made (``undo_on_error``), so a re-run finds it missing
        and makes it again, rather than finding it half made."""

    def update(self, props: Props, observed: Observed) -> None:
        """Make what differs match ``props`` where AWS allows it in place."""


@contextlib.contextmanager
def undo_on_error(undo: Callable[[], None]) -> Iterator[None]:
    """Run ``undo`` when the block fails, then raise the block's error."""
    try:
        yield
    except BatchmapError as exc:
        try:
            undo()
        except BatchmapError as failed:
            raise type(exc)(
                f"{exc.message}; undoing what was made failed too: {failed.message}",
                hint="finish it with 'batchmap setup --update', or delete it and re-run setup",
            ) from exc
        raise


def camel(value: Any) -> Any:
    """CloudFormation's PascalCase keys as the Batch API's camelCase ones (same words)."""
    if isinstance(value, Mapping):
        return {k[:1].lower() + k[1:]: camel(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [camel(v) for v in value]
    return value


def wait(waiter: Any, what: str, **params: Any) -> None:
    """Run a botocore waiter; its failure is one batchmap error naming ``what``."""
    from botocore.exceptions import ClientError, WaiterError

    try:
        waiter.wait(**params)
    except WaiterError as exc:
        last = exc.last_response or {}
        if "Max attempts exceeded" in str(exc):
            raise AwsServiceError(
                f"{what}: still not ready after {_waited(waiter)}",
                hint="AWS is slow to make it: re-run batchmap setup to carry on",
            ) from exc
        if "Error" in last:  # the describe call itself was refused or failed
            raise translate(ClientError(last, waiter.name), what) from exc  # type: ignore[arg-type]
        raise AwsRefusedError(f"{what}: {_reason(last) or exc.kwargs.get('reason')}") from exc


def _waited(waiter: Any) -> str:
    config = waiter.config
    return f"{config.delay * config.max_attempts} s"


def _reason(response: Mapping[str, Any]) -> str:
    for key in ("computeEnvironments", "jobQueues"):
        for item in response.get(key) or []:
            if item.get("statusReason"):
                return f"{item.get('status')}: {item['statusReason']}"
    return ""
