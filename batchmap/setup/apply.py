"""`batchmap setup`: make an AWS account match Flyte's guide, idempotently.

``desired`` turns the config (``queues.executionQueues``, ``setup:``,
``storage``, ``aws.logGroup``) into resource specifications; ``plan`` compares
them with the account (read-only calls) and says, per resource, create /
already there / differs; ``apply`` creates what is missing and changes what
differs only when asked (``--update``). ``provision_cfn`` prints the same
specifications as a CloudFormation template.
"""

from __future__ import annotations

import json

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.aws.iam import ECS_TASKS, pass_role_policy, trust_problem
from batchmap.config.loader import Config
from batchmap.errors import BatchmapError
from batchmap.setup.spec import (
    INSTANCE_ROLE,
    PASS_ROLE_POLICY_NAME,
    SERVICE_ROLE,
    Change,
    Desired,
    code_of,
    desired,
    trust,
)
from batchmap.setup.storage import StorageResources


class Provisioner(StorageResources):
    def __init__(self, clients: ClientFactory, want: Desired) -> None:
        self.clients = clients
        self.want = want
        self.iam = clients.client("iam")
        self.batch = clients.client("batch")

    @classmethod
    def for_account(cls, clients: ClientFactory, config: Config) -> Provisioner:
        """The provisioner of ``config``'s resources in the caller's account and region."""
        with aws_call("sts:GetCallerIdentity"):
            account = clients.client("sts").get_caller_identity()["Account"]
        return cls(clients, desired(config, account, clients.region_or_default))

    # -- IAM ------------------------------------------------------------------------------
    def _role(self, name: str, service: str, policies: list[str], label: str) -> Change:
        try:
            with aws_call("iam:GetRole"):
                role = self.iam.get_role(RoleName=name)["Role"]
        except BatchmapError as exc:
            if code_of(exc) != "NoSuchEntity":
                raise

            def create() -> None:
                with aws_call("iam:CreateRole"):
                    self.iam.create_role(
                        RoleName=name, AssumeRolePolicyDocument=json.dumps(trust(service))
                    )
                for arn in policies:
                    with aws_call("iam:AttachRolePolicy"):
                        self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)

            detail = f"trusts {service}"
            if policies:  # managed-policy ARNs carry the region's partition
                detail += f"; attaches {', '.join(policies)}"
            return Change(label, name, "create", detail, create)
        problems = []
        document = role.get("AssumeRolePolicyDocument")
        if service == ECS_TASKS and trust_problem(document):
            problems.append(f"its trust policy does not let {service} assume it")
        elif service != ECS_TASKS and service not in json.dumps(document):
            problems.append(f"its trust policy does not name {service}")
        with aws_call("iam:ListAttachedRolePolicies"):
            attached = {
                p["PolicyArn"]
                for p in self.iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
            }
        absent = [arn for arn in policies if arn not in attached]
        if absent:
            problems.append(f"missing policies {', '.join(absent)}")
        if not problems:
            return Change(label, name, "exists", role["Arn"])

        def fix() -> None:
            if any("trust" in p for p in problems):
                doc = (
                    document
                    if isinstance(document, dict)
                    else {"Version": "2012-10-17", "Statement": []}
                )
                doc = {
                    **doc,
                    "Statement": [*doc.get("Statement", []), trust(service)["Statement"][0]],
                }
                with aws_call("iam:UpdateAssumeRolePolicy"):
                    self.iam.update_assume_role_policy(
                        RoleName=name, PolicyDocument=json.dumps(doc)
                    )
            for arn in absent:
                with aws_call("iam:AttachRolePolicy"):
                    self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)

        return Change(label, name, "differs", "; ".join(problems), fix=fix)

    def _instance_profile(self) -> Change:
        name = INSTANCE_ROLE
        try:
            with aws_call("iam:GetInstanceProfile"):
                profile = self.iam.get_instance_profile(InstanceProfileName=name)
            roles = [r["RoleName"] for r in profile["InstanceProfile"].get("Roles", [])]
            if name in roles:
                return Change("instance profile", name, "exists")

            def fix() -> None:
                with aws_call("iam:AddRoleToInstanceProfile"):
                    self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)

            return Change("instance profile", name, "differs", f"role {name} not in it", fix=fix)
        except BatchmapError as exc:
            if code_of(exc) != "NoSuchEntity":
                raise

        def create() -> None:
            with aws_call("iam:CreateInstanceProfile"):
                self.iam.create_instance_profile(InstanceProfileName=name)
            with aws_call("iam:AddRoleToInstanceProfile"):
                self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)

        return Change("instance profile", name, "create", f"holds role {name}", create)

    def _pass_role(self) -> Change | None:
        principal = self.want.pass_principal
        if not principal:
            return None
        kind, _, name = principal.split(":", 5)[5].partition("/")
        name = name.rsplit("/", 1)[-1]
        document = json.loads(pass_role_policy(self.want.arn("role", self.want.user_role)))
        get, put = (
            (self.iam.get_role_policy, self.iam.put_role_policy)
            if kind == "role"
            else (self.iam.get_user_policy, self.iam.put_user_policy)
        )
        key = "RoleName" if kind == "role" else "UserName"

        def write() -> None:
            with aws_call(f"iam:Put{kind.title()}Policy"):
                put(
                    **{key: name},
                    PolicyName=PASS_ROLE_POLICY_NAME,
                    PolicyDocument=json.dumps(document),
                )

        try:
            with aws_call(f"iam:Get{kind.title()}Policy"):
                current = get(**{key: name}, PolicyName=PASS_ROLE_POLICY_NAME)["PolicyDocument"]
        except BatchmapError as exc:
            if code_of(exc) != "NoSuchEntity":
                raise
            return Change(
                "PassRole policy",
                f"{kind}/{name}",
                "create",
                f"may pass {self.want.user_role}",
                write,
            )
        if isinstance(current, str):
            current = json.loads(current)
        if current != document:
            return Change(
                "PassRole policy", f"{kind}/{name}", "differs", "policy content differs", fix=write
            )
        return Change("PassRole policy", f"{kind}/{name}", "exists")

    # -- Batch ----------------------------------------------------------------------------
    def _compute(self) -> Change:
        c = self.want.compute
        with aws_call("batch:DescribeComputeEnvironments"):
            found = self.batch.describe_compute_environments(computeEnvironments=[c["name"]])[
                "computeEnvironments"
            ]
        service = self.want.service_role or self.want.arn("role", SERVICE_ROLE)
        profile = self.want.instance_role or self.want.arn("instance-profile", INSTANCE_ROLE)
        resources = self.want.compute_resources(profile)
        if not found:

            def create() -> None:
                with aws_call("batch:CreateComputeEnvironment"):
                    self.batch.create_compute_environment(
                        computeEnvironmentName=c["name"],
                        type="MANAGED",
                        state="ENABLED",
                        serviceRole=service,
                        computeResources=resources,
                    )

            return Change(
                "compute environment",
                c["name"],
                "create",
                f"{c['type']}, up to {c['maxvCpus']} vCPUs",
                create,
            )
        env = found[0]
        self._compute_arn = env.get("computeEnvironmentArn")
        have = env.get("computeResources") or {}
        problems = []
        if have.get("type") and have["type"] != c["type"]:
            problems.append(f"type {have['type']}, want {c['type']} (replace it by hand)")
        if have.get("maxvCpus") != c["maxvCpus"]:
            problems.append(f"maxvCpus {have.get('maxvCpus')}, want {c['maxvCpus']}")
        if env.get("state", "ENABLED") != "ENABLED":
            problems.append(f"state {env['state']}")
        if not problems:
            return Change("compute environment", c["name"], "exists", env.get("status", ""))

        def fix() -> None:
            with aws_call("batch:UpdateComputeEnvironment"):
                self.batch.update_compute_environment(
                    computeEnvironment=c["name"],
                    state="ENABLED",
                    computeResources={"maxvCpus": c["maxvCpus"], "minvCpus": c["minvCpus"]},
                )

        return Change("compute environment", c["name"], "differs", "; ".join(problems), fix=fix)

    def _queues(self) -> list[Change]:
        name = self.want.compute["name"]
        if not self.want.queues:
            return []
        with aws_call("batch:DescribeJobQueues"):
            found = {
                q["jobQueueName"]: q
                for q in self.batch.describe_job_queues(jobQueues=self.want.queues)["jobQueues"]
            }
        changes = []
        for queue in self.want.queues:
            order = [{"order": 1, "computeEnvironment": name}]
            if queue not in found:

                def create(queue: str = queue, order: list = order) -> None:
                    with aws_call("batch:CreateJobQueue"):
                        self.batch.create_job_queue(
                            jobQueueName=queue,
                            state="ENABLED",
                            priority=1,
                            computeEnvironmentOrder=order,
                        )

                changes.append(Change("job queue", queue, "create", f"on {name}", create))
                continue
            have = found[queue]
            envs = [
                o["computeEnvironment"].rsplit("/", 1)[-1]
                for o in have.get("computeEnvironmentOrder") or []
            ]
            problems = []
            if name not in envs:
                problems.append(f"uses {', '.join(envs) or 'no compute environment'}, not {name}")
            if have.get("state", "ENABLED") != "ENABLED":
                problems.append(f"state {have['state']}")
            if not problems:
                changes.append(Change("job queue", queue, "exists", f"on {', '.join(envs)}"))
                continue

            reorder = name not in envs

            def fix(queue: str = queue, reorder: bool = reorder) -> None:
                extra = {}
                if reorder:  # AWS takes the name or the ARN; moto only the ARN
                    target = getattr(self, "_compute_arn", None) or name
                    extra["computeEnvironmentOrder"] = [{"order": 1, "computeEnvironment": target}]
                with aws_call("batch:UpdateJobQueue"):
                    self.batch.update_job_queue(jobQueue=queue, state="ENABLED", **extra)

            changes.append(Change("job queue", queue, "differs", "; ".join(problems), fix=fix))
        return changes

    # -- plan and apply -------------------------------------------------------------------
    def plan(self) -> list[Change]:
        """Every resource and what setup would do to it (read-only calls)."""
        w = self.want
        changes = []
        if not w.service_role:
            policy = f"arn:{w.partition}:iam::aws:policy/service-role/AWSBatchServiceRole"
            changes.append(
                self._role(SERVICE_ROLE, "batch.amazonaws.com", [policy], "Batch service role")
            )
        if w.ec2 and not w.instance_role:
            policy = (
                f"arn:{w.partition}:iam::aws:policy/service-role/"
                "AmazonEC2ContainerServiceforEC2Role"
            )
            changes.append(
                self._role(INSTANCE_ROLE, "ec2.amazonaws.com", [policy], "instance role")
            )
            changes.append(self._instance_profile())
        changes.append(self._role(w.user_role, ECS_TASKS, w.managed_policies, "user role"))
        changes += [c for c in (self._pass_role(), self._bucket()) if c is not None]
        changes.append(self._log_group())
        changes.append(self._compute())
        changes += self._queues()
        return changes

    def apply(self, changes: list[Change], *, update: bool) -> list[Change]:
        """Create what is missing; change what differs only with ``update``."""
        for change in changes:
            if change.action == "create" and change.run:
                change.run()
                change.action = "created"
            elif change.action == "differs" and update and change.fix:
                change.fix()
                change.action = "updated"
        return changes
