"""IAM role ARNs and Kubernetes service account names: syntax checks.

Flyte checks neither; a typo there surfaces only when AWS Batch refuses the
job. Each check returns ``None`` when the value is good, or one message that
says what is wrong at which character and shows a valid example.
"""

from __future__ import annotations

import re

PARTITIONS = (
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
)
ROLE_EXAMPLE = "arn:aws:iam::123456789012:role/batchmap-task"
SERVICE_ACCOUNT_EXAMPLE = "batchmap-runner"
_ROLE_NAME_CHARS = re.compile(r"[A-Za-z0-9+=,.@_-]")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def role_arn_problem(arn: str) -> str | None:
    """Why ``arn`` is not an IAM role ARN, or None."""

    def bad(position: int, what: str) -> str:
        return f"not an IAM role ARN: {what} at character {position + 1} (e.g. {ROLE_EXAMPLE})"

    if not arn.startswith("arn:"):
        return bad(0, "it must start with 'arn:'")
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return bad(len(arn), f"it has {len(parts) - 1} ':' separators, expected 5")
    _, partition, service, region, account, resource = parts
    offset = len("arn:")
    if partition not in PARTITIONS:
        return bad(
            offset, f"unknown partition {partition!r} (one of {', '.join(PARTITIONS[:3])}, …)"
        )
    offset += len(partition) + 1
    if service != "iam":
        return bad(offset, f"service is {service!r}, expected 'iam'")
    offset += len(service) + 1
    if region:
        return bad(offset, "IAM ARNs have no region")
    offset += 1
    if not re.fullmatch(r"[0-9]{12}", account):
        return bad(offset, f"account {account!r} is not 12 digits")
    offset += len(account) + 1
    if not resource.startswith("role/"):
        kind = resource.split("/", 1)[0]
        return bad(offset, f"this is a {kind!r} ARN, not a 'role/' ARN")
    offset += len("role/")
    path_and_name = resource[len("role/") :]
    name = path_and_name.rsplit("/", 1)[-1]
    name_at = offset + len(path_and_name) - len(name)
    if not name:
        return bad(name_at, "the role name is empty")
    if len(name) > 64:
        return bad(name_at + 64, f"the role name is {len(name)} characters long (at most 64)")
    for i, ch in enumerate(name):
        if not _ROLE_NAME_CHARS.fullmatch(ch):
            return bad(name_at + i, f"{ch!r} is not allowed in a role name")
    for i, ch in enumerate(path_and_name[: len(path_and_name) - len(name)]):
        if not ("\x21" <= ch <= "\x7e"):
            return bad(offset + i, f"{ch!r} is not allowed in a role path")
    if len(path_and_name) - len(name) > 512:
        return bad(offset, "the role path is longer than 512 characters")
    return None


def service_account_problem(name: str) -> str | None:
    """Why ``name`` is not a Kubernetes service account name (DNS-1123 subdomain), or None."""

    def bad(position: int, what: str) -> str:
        return (
            f"not a Kubernetes service account name: {what} at character {position + 1} "
            f"(lowercase letters, digits, '-' and '.', e.g. {SERVICE_ACCOUNT_EXAMPLE})"
        )

    if not name:
        return bad(0, "it is empty")
    if len(name) > 253:
        return bad(253, f"it is {len(name)} characters long (at most 253)")
    offset = 0
    for label in name.split("."):
        if not label:
            return bad(offset, "an empty label ('..' or a leading/trailing '.')")
        if not _DNS_LABEL.match(label):
            for i, ch in enumerate(label):
                first_or_last = i in (0, len(label) - 1)
                if not (ch.isascii() and (ch.islower() or ch.isdigit())) and (
                    ch != "-" or first_or_last
                ):
                    what = (
                        f"{ch!r} cannot start or end a name"
                        if ch == "-"
                        else f"{ch!r} is not allowed"
                    )
                    return bad(offset + i, what)
        offset += len(label) + 1
    return None
