"""IAM checks of a role children run as: its trust policy and the caller's iam:PassRole.

Live checks with injected boto3 clients; the syntax of role ARNs and service account
names is in ``batchmap.aws.arns``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

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


def pass_role_statement(resource: Any) -> dict[str, Any]:
    """Passing ``resource`` (roles' ARNs, ``*``, or a template's reference) to AWS Batch
    only: what submitting with a job role needs."""
    return {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": resource,
        "Condition": {"StringEquals": {"iam:PassedToService": "batch.amazonaws.com"}},
    }


def pass_role_policy(role_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [pass_role_statement(role_arn)]})


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
