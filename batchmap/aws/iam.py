"""IAM role ARNs and Kubernetes service account names: syntax checks.

Flyte checks neither; a typo there surfaces only when AWS Batch refuses the
job. Each check returns ``None`` when the value is good, or one message that
says what is wrong at which character and shows a valid example.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

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


# --- live checks (boto3 clients injected) ------------------------------------------------

ECS_TASKS = "ecs-tasks.amazonaws.com"


@dataclass(frozen=True)
class Check:
    """One identity check: ok, fail, warn, or unverified (batchmap could not tell)."""

    name: str
    status: str
    message: str
    fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "status": self.status, "message": self.message, "fix": self.fix}


def trust_statement() -> str:
    return json.dumps(
        {"Effect": "Allow", "Principal": {"Service": ECS_TASKS}, "Action": "sts:AssumeRole"}
    )


def pass_role_policy(role_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": role_arn,
                    "Condition": {"StringEquals": {"iam:PassedToService": "batch.amazonaws.com"}},
                }
            ],
        }
    )


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _policy(document: Any) -> dict[str, Any]:
    if isinstance(document, str):  # moto/botocore may hand back the URL-encoded text
        document = json.loads(unquote(document))
    return document if isinstance(document, dict) else {}


def trust_problem(document: Any) -> tuple[str, str] | None:
    """(status, message) when the trust policy does not clearly let ECS tasks assume the role."""
    try:
        statements = _as_list(_policy(document).get("Statement"))
    except ValueError:
        return "fail", "the trust policy is not valid JSON"

    def covers(statement: dict[str, Any]) -> bool:
        actions = [a.lower() for a in _as_list(statement.get("Action"))]
        if not any(a in ("sts:assumerole", "sts:*", "*") for a in actions):
            return False
        principal = statement.get("Principal")
        if principal == "*":
            return True
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        return ECS_TASKS in services or "*" in _as_list(
            principal.get("AWS") if isinstance(principal, dict) else None
        )

    allowed = [s for s in statements if s.get("Effect") == "Allow" and covers(s)]
    denied = [s for s in statements if s.get("Effect") == "Deny" and covers(s)]
    if denied:
        return "fail", f"the trust policy denies {ECS_TASKS} sts:AssumeRole"
    if not allowed:
        return "fail", f"the trust policy does not let {ECS_TASKS} assume the role"
    if all(s.get("Condition") for s in allowed):
        return "warn", "the trust policy allows ECS tasks only under conditions; check them"
    return None


def caller_role_arn(sts: Any, iam: Any) -> str:
    """The caller's IAM ARN; an assumed-role session is mapped back to its role."""
    arn = str(sts.get_caller_identity()["Arn"])
    match = re.match(r"^arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.+$", arn)
    if not match:
        return arn
    partition, account, role = match.groups()
    try:
        return str(iam.get_role(RoleName=role)["Role"]["Arn"])
    except Exception:  # no iam:GetRole on ourselves: the path is unknown, assume none
        return f"arn:{partition}:iam::{account}:role/{role}"


def check_role(iam: Any, sts: Any, role_arn: str) -> list[Check]:
    """The role exists, ECS tasks may assume it, and the caller may pass it."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = role_arn.rsplit("/", 1)[-1]
    checks = []
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchEntity":
            return [
                Check(
                    "role exists",
                    "fail",
                    f"IAM role {role_arn} does not exist",
                    "create it, or fix iamRoleARN",
                )
            ]
        return [
            Check("role exists", "unverified", f"cannot read IAM role {name} ({code}): not checked")
        ]
    except BotoCoreError as exc:
        return [Check("role exists", "unverified", f"cannot read IAM role {name}: {exc}")]
    checks.append(Check("role exists", "ok", role["Arn"]))
    problem = trust_problem(role.get("AssumeRolePolicyDocument"))
    if problem:
        status, message = problem
        checks.append(
            Check(
                "trust policy",
                status,
                message,
                f"add this statement to the role's trust policy: {trust_statement()}",
            )
        )
    else:
        checks.append(Check("trust policy", "ok", f"{ECS_TASKS} may assume the role"))
    checks.append(check_pass_role(iam, sts, role_arn))
    return checks


def check_pass_role(iam: Any, sts: Any, role_arn: str) -> Check:
    """iam:SimulatePrincipalPolicy for iam:PassRole; "unverified" when it cannot be asked."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        caller = caller_role_arn(sts, iam)
        result = iam.simulate_principal_policy(
            PolicySourceArn=caller, ActionNames=["iam:PassRole"], ResourceArns=[role_arn]
        )
        decision = result["EvaluationResults"][0]["EvalDecision"]
    except (
        ClientError,
        BotoCoreError,
        ResponseParserError,
        NotImplementedError,
        KeyError,
        IndexError,
    ) as exc:
        return Check(
            "iam:PassRole",
            "unverified",
            f"could not simulate iam:PassRole ({type(exc).__name__}); not checked",
        )
    if decision == "allowed":
        return Check("iam:PassRole", "ok", f"{caller} may pass the role")
    return Check(
        "iam:PassRole",
        "fail",
        f"{caller} may not pass {role_arn} ({decision})",
        f"attach this policy to {caller}: {pass_role_policy(role_arn)}",
    )
