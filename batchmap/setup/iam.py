"""Drivers of the IAM types: AWS::IAM::Role, AWS::IAM::InstanceProfile, AWS::IAM::Policy.

After each create, botocore's IAM waiters (``role_exists``,
``instance_profile_exists``) hold until IAM answers for it.
"""

from __future__ import annotations

import json
from typing import Any

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.aws.iam import ECS_TASKS, trust_problem
from batchmap.errors import NotFoundError
from batchmap.setup.driver import Observed, Props, undo_on_error, wait
from batchmap.setup.model import Context


def _services(document: Any) -> list[str]:
    return [
        service
        for statement in document.get("Statement", [])
        for service in _listed(statement.get("Principal", {}).get("Service"))
    ]


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


class RoleDriver:
    def __init__(self, clients: ClientFactory) -> None:
        self.iam = clients.client("iam")

    def name(self, props: Props) -> str:
        return str(props["RoleName"])

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        name = self.name(props)
        return {"Ref": name, "Arn": f"arn:{ctx.partition}:iam::{ctx.account}:role/{name}"}

    def summary(self, props: Props) -> str:
        detail = f"trusts {', '.join(_services(props['AssumeRolePolicyDocument']))}"
        policies = props.get("ManagedPolicyArns") or []
        if policies:  # managed-policy ARNs carry the region's partition
            detail += f"; attaches {', '.join(policies)}"
        return detail

    def read(self, props: Props) -> Observed | None:
        name = self.name(props)
        try:
            with aws_call("iam:GetRole"):
                role = self.iam.get_role(RoleName=name)["Role"]
        except NotFoundError:
            return None
        document = role.get("AssumeRolePolicyDocument")
        problems = []
        for service in _services(props["AssumeRolePolicyDocument"]):
            if service == ECS_TASKS:
                if trust_problem(document):
                    problems.append(f"its trust policy does not let {service} assume it")
            elif service not in json.dumps(document):
                problems.append(f"its trust policy does not name {service}")
        with aws_call("iam:ListAttachedRolePolicies"):
            pages = self.iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
            attached = {p["PolicyArn"] for page in pages for p in page["AttachedPolicies"]}
        absent = [arn for arn in props.get("ManagedPolicyArns") or [] if arn not in attached]
        if absent:
            problems.append(f"missing policies {', '.join(absent)}")
        return Observed(
            {"Ref": name, "Arn": role["Arn"]},
            role["Arn"],
            problems,
            {"document": document, "absent": absent},
        )

    def create(self, props: Props) -> dict[str, str]:
        name = self.name(props)
        with aws_call("iam:CreateRole"):
            trust = json.dumps(props["AssumeRolePolicyDocument"])
            arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        attached: list[str] = []

        def undo() -> None:
            for policy in attached:
                with aws_call("iam:DetachRolePolicy"):
                    self.iam.detach_role_policy(RoleName=name, PolicyArn=policy)
            with aws_call("iam:DeleteRole"):
                self.iam.delete_role(RoleName=name)

        with undo_on_error(undo):
            wait(self.iam.get_waiter("role_exists"), f"iam:GetRole {name}", RoleName=name)
            for policy in props.get("ManagedPolicyArns") or []:
                with aws_call("iam:AttachRolePolicy"):
                    self.iam.attach_role_policy(RoleName=name, PolicyArn=policy)
                attached.append(policy)
        return {"Ref": name, "Arn": arn}

    def update(self, props: Props, observed: Observed) -> None:
        name = self.name(props)
        if any("trust policy" in p for p in observed.differences):
            # Add the described statements to the role's own: never drop what others trust.
            have = observed.state["document"]
            doc = have if isinstance(have, dict) else {"Version": "2012-10-17", "Statement": []}
            wanted = props["AssumeRolePolicyDocument"]["Statement"]
            doc = {**doc, "Statement": [*doc.get("Statement", []), *wanted]}
            with aws_call("iam:UpdateAssumeRolePolicy"):
                self.iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(doc))
        for policy in observed.state["absent"]:
            with aws_call("iam:AttachRolePolicy"):
                self.iam.attach_role_policy(RoleName=name, PolicyArn=policy)


class InstanceProfileDriver:
    def __init__(self, clients: ClientFactory) -> None:
        self.iam = clients.client("iam")

    def name(self, props: Props) -> str:
        return str(props["InstanceProfileName"])

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        name = self.name(props)
        arn = f"arn:{ctx.partition}:iam::{ctx.account}:instance-profile/{name}"
        return {"Ref": name, "Arn": arn}

    def summary(self, props: Props) -> str:
        return f"holds role {', '.join(props['Roles'])}"

    def read(self, props: Props) -> Observed | None:
        name = self.name(props)
        try:
            with aws_call("iam:GetInstanceProfile"):
                profile = self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except NotFoundError:
            return None
        have = {r["RoleName"] for r in profile.get("Roles", [])}
        absent = [r for r in props["Roles"] if r not in have]
        return Observed(
            {"Ref": name, "Arn": profile["Arn"]},
            f"holds role {', '.join(sorted(have))}",
            [f"role {r} not in it" for r in absent],
            {"absent": absent},
        )

    def create(self, props: Props) -> dict[str, str]:
        name = self.name(props)
        with aws_call("iam:CreateInstanceProfile"):
            arn = self.iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"][
                "Arn"
            ]
        added: list[str] = []

        def undo() -> None:
            for role in added:
                with aws_call("iam:RemoveRoleFromInstanceProfile"):
                    self.iam.remove_role_from_instance_profile(
                        InstanceProfileName=name, RoleName=role
                    )
            with aws_call("iam:DeleteInstanceProfile"):
                self.iam.delete_instance_profile(InstanceProfileName=name)

        with undo_on_error(undo):
            wait(
                self.iam.get_waiter("instance_profile_exists"),
                f"iam:GetInstanceProfile {name}",
                InstanceProfileName=name,
            )
            for role in props["Roles"]:
                with aws_call("iam:AddRoleToInstanceProfile"):
                    self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
                added.append(role)
        return {"Ref": name, "Arn": arn}

    def update(self, props: Props, observed: Observed) -> None:
        # An instance profile holds one role: a missing one is added, another is left.
        for role in observed.state["absent"]:
            with aws_call("iam:AddRoleToInstanceProfile"):
                self.iam.add_role_to_instance_profile(
                    InstanceProfileName=self.name(props), RoleName=role
                )


class PolicyDriver:
    """An inline policy on the roles and users it names (``Roles``, ``Users``)."""

    def __init__(self, clients: ClientFactory) -> None:
        self.iam = clients.client("iam")

    def _principals(self, props: Props) -> list[tuple[str, str]]:
        return [("role", n) for n in props.get("Roles") or []] + [
            ("user", n) for n in props.get("Users") or []
        ]

    def name(self, props: Props) -> str:
        return ", ".join(f"{kind}/{n}" for kind, n in self._principals(props))

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        return {"Ref": str(props["PolicyName"])}

    def summary(self, props: Props) -> str:
        actions = sorted(
            {
                action
                for statement in props["PolicyDocument"]["Statement"]
                for action in _listed(statement["Action"])
            }
        )
        return f"{props['PolicyName']}: allows {', '.join(actions)}"

    def _call(self, verb: str, kind: str, name: str, **params: Any) -> Any:
        method = getattr(self.iam, f"{verb}_{kind}_policy")
        key = "RoleName" if kind == "role" else "UserName"
        with aws_call(f"iam:{verb.title()}{kind.title()}Policy"):
            return method(**{key: name}, **params)

    def read(self, props: Props) -> Observed | None:
        missing, differ = [], []
        for kind, name in self._principals(props):
            try:
                current = self._call("get", kind, name, PolicyName=props["PolicyName"])[
                    "PolicyDocument"
                ]
            except NotFoundError:
                missing.append((kind, name))
                continue
            if isinstance(current, str):  # botocore decodes it to a dict; text just in case
                current = json.loads(current)
            if current != props["PolicyDocument"]:
                differ.append((kind, name))
        if len(missing) == len(self._principals(props)):
            return None
        problems = [f"not on {k}/{n}" for k, n in missing] + [
            f"its content differs on {k}/{n}" for k, n in differ
        ]
        return Observed({"Ref": str(props["PolicyName"])}, props["PolicyName"], problems)

    def create(self, props: Props) -> dict[str, str]:
        self._write(props)
        return {"Ref": str(props["PolicyName"])}

    def update(self, props: Props, observed: Observed) -> None:
        self._write(props)

    def _write(self, props: Props) -> None:
        for kind, name in self._principals(props):
            self._call(
                "put",
                kind,
                name,
                PolicyName=props["PolicyName"],
                PolicyDocument=json.dumps(props["PolicyDocument"]),
            )
