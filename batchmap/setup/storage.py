"""Drivers of the storage types: AWS::S3::Bucket (encrypted, public access blocked)
and AWS::Logs::LogGroup. A new bucket is waited for with botocore's ``bucket_exists``."""

from __future__ import annotations

from typing import Any

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.errors import BatchmapError, NotFoundError
from batchmap.setup.driver import Observed, Props, undo_on_error, wait
from batchmap.setup.model import Context


def _encryption(props: Props) -> dict[str, Any]:
    """CloudFormation's BucketEncryption as PutBucketEncryption's configuration."""
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    return {
        "Rules": [
            {"ApplyServerSideEncryptionByDefault": dict(r["ServerSideEncryptionByDefault"])}
            for r in rules
        ]
    }


class BucketDriver:
    def __init__(self, clients: ClientFactory) -> None:
        self.s3 = clients.client("s3")

    def name(self, props: Props) -> str:
        return str(props["BucketName"])

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        name = self.name(props)
        return {"Ref": name, "Arn": f"arn:{ctx.partition}:s3:::{name}"}

    def summary(self, props: Props) -> str:
        return "encrypted, public access blocked"

    def read(self, props: Props) -> Observed | None:
        bucket = self.name(props)
        try:
            with aws_call("s3:HeadBucket"):
                self.s3.head_bucket(Bucket=bucket)
        except NotFoundError:
            return None
        problems = []
        want = props["PublicAccessBlockConfiguration"]
        try:
            with aws_call("s3:GetPublicAccessBlock"):
                block = self.s3.get_public_access_block(Bucket=bucket)[
                    "PublicAccessBlockConfiguration"
                ]
            if any(block.get(k) != v for k, v in want.items()):
                problems.append("public access is not fully blocked")
        except BatchmapError:
            problems.append("public access is not blocked")
        try:
            with aws_call("s3:GetBucketEncryption"):
                self.s3.get_bucket_encryption(Bucket=bucket)
        except BatchmapError:
            problems.append("no default encryption")
        return Observed({"Ref": bucket}, "", problems)

    def create(self, props: Props) -> dict[str, str]:
        bucket = self.name(props)
        region = self.s3.meta.region_name
        extra = (
            {}
            if region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        )
        with aws_call("s3:CreateBucket"):
            self.s3.create_bucket(Bucket=bucket, **extra)

        def undo() -> None:  # the bucket is new, hence empty
            with aws_call("s3:DeleteBucket"):
                self.s3.delete_bucket(Bucket=bucket)

        with undo_on_error(undo):
            wait(self.s3.get_waiter("bucket_exists"), f"s3:HeadBucket {bucket}", Bucket=bucket)
            self._harden(props)
        return {"Ref": bucket}

    def update(self, props: Props, observed: Observed) -> None:
        self._harden(props)

    def _harden(self, props: Props) -> None:
        bucket = self.name(props)
        with aws_call("s3:PutBucketEncryption"):
            self.s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration=_encryption(props)
            )
        with aws_call("s3:PutPublicAccessBlock"):
            self.s3.put_public_access_block(
                Bucket=bucket,
                PublicAccessBlockConfiguration=dict(props["PublicAccessBlockConfiguration"]),
            )


class LogGroupDriver:
    def __init__(self, clients: ClientFactory) -> None:
        self.logs = clients.client("logs")

    def name(self, props: Props) -> str:
        return str(props["LogGroupName"])

    def expected(self, props: Props, ctx: Context) -> dict[str, str]:
        name = self.name(props)
        arn = f"arn:{ctx.partition}:logs:{ctx.region}:{ctx.account}:log-group:{name}:*"
        return {"Ref": name, "Arn": arn}

    def summary(self, props: Props) -> str:
        return "where AWS Batch writes the children's logs"

    def read(self, props: Props) -> Observed | None:
        group = self.name(props)
        with aws_call("logs:DescribeLogGroups"):
            pages = self.logs.get_paginator("describe_log_groups").paginate(
                logGroupNamePrefix=group
            )
            found = [g for page in pages for g in page["logGroups"] if g["logGroupName"] == group]
        if not found:
            return None
        return Observed({"Ref": group, "Arn": found[0]["arn"]})

    def create(self, props: Props) -> dict[str, str]:
        group = self.name(props)
        with aws_call("logs:CreateLogGroup"):
            self.logs.create_log_group(logGroupName=group)
        return {"Ref": group}

    def update(self, props: Props, observed: Observed) -> None:
        """A log group has nothing `setup` changes."""
