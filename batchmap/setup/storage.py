"""`batchmap setup`'s storage resources: the bucket (encrypted, public access blocked)
and the CloudWatch log group."""

from __future__ import annotations

from batchmap.aws.clients import ClientFactory, aws_call
from batchmap.errors import BatchmapError
from batchmap.setup.spec import Change, Desired


class StorageResources:
    clients: ClientFactory
    want: Desired

    # -- storage and logs --------------------------------------------------------------
    def _bucket(self) -> Change | None:
        bucket = self.want.bucket
        if not bucket:
            return None
        s3 = self.clients.client("s3")

        def harden() -> None:
            with aws_call("s3:PutBucketEncryption"):
                s3.put_bucket_encryption(
                    Bucket=bucket,
                    ServerSideEncryptionConfiguration={
                        "Rules": [
                            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                )
            with aws_call("s3:PutPublicAccessBlock"):
                s3.put_public_access_block(
                    Bucket=bucket,
                    PublicAccessBlockConfiguration={
                        "BlockPublicAcls": True,
                        "IgnorePublicAcls": True,
                        "BlockPublicPolicy": True,
                        "RestrictPublicBuckets": True,
                    },
                )

        try:
            with aws_call("s3:HeadBucket"):
                s3.head_bucket(Bucket=bucket)
        except BatchmapError:

            def create() -> None:
                extra = (
                    {}
                    if self.want.region == "us-east-1"
                    else {"CreateBucketConfiguration": {"LocationConstraint": self.want.region}}
                )
                with aws_call("s3:CreateBucket"):
                    s3.create_bucket(Bucket=bucket, **extra)
                harden()

            return Change("S3 bucket", bucket, "create", "encrypted, public access blocked", create)
        problems = []
        try:
            with aws_call("s3:GetPublicAccessBlock"):
                block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            if not all(block.values()):
                problems.append("public access is not fully blocked")
        except BatchmapError:
            problems.append("public access is not blocked")
        try:
            with aws_call("s3:GetBucketEncryption"):
                s3.get_bucket_encryption(Bucket=bucket)
        except BatchmapError:
            problems.append("no default encryption")
        if problems:
            return Change("S3 bucket", bucket, "differs", "; ".join(problems), fix=harden)
        return Change("S3 bucket", bucket, "exists")

    def _log_group(self) -> Change:
        logs = self.clients.client("logs")
        group = self.want.log_group
        with aws_call("logs:DescribeLogGroups"):
            found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        if any(g["logGroupName"] == group for g in found):
            return Change("log group", group, "exists")

        def create() -> None:
            with aws_call("logs:CreateLogGroup"):
                logs.create_log_group(logGroupName=group)

        return Change("log group", group, "create", "", create)
