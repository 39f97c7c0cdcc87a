"""The custom 403/404 pages: a private, encrypted S3 bucket that only CloudFront can read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from shared import policies
from shared.naming import LIMITS, Namer
from shared.tags import name_tag

PAGES_DIR = Path(__file__).resolve().parent.parent / "error_pages"
ERROR_CODES = (403, 404)
PATH_PREFIX = "errors"  # pages are served at /errors/<code>.html
ACCOUNT_ID_LENGTH = 12


def page_path(code: int) -> str:
    return f"/{PATH_PREFIX}/{code}.html"


def bucket_name(namer: Namer, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """``mlapi-errors-<suffix>-<account id>``: bucket names are global across all AWS accounts."""
    base = namer.name("errors", kind="s3")
    # The longest suffix keeps this at 46 of S3's 63 characters.
    assert len(base) + 1 + ACCOUNT_ID_LENGTH <= LIMITS["s3"], base
    return pulumi.Output.concat(base, "-", account_id)


@dataclass(frozen=True)
class ErrorPagesArgs:
    namer: Namer
    account_id: pulumi.Input[str]
    # Refuse to delete a bucket that holds objects (EnvironmentSettings.blocks_deletion).
    blocks_deletion: bool


class ErrorPages(pulumi.ComponentResource):
    def __init__(self, name: str, args: ErrorPagesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:edge:ErrorPages", name, None, opts)
        n = args.namer
        self._prefix = name
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name(n, args.account_id),
            # Ephemeral and decommissioning environments must be removable with their pages still in
            # the bucket (the pages come from the repository: nothing is lost).
            force_destroy=not args.blocks_deletion,
            tags=name_tag(n.name("errors")),
            opts=child,
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        # S3 answers 409 OperationAborted ("A conflicting conditional operation is currently in
        # progress") to concurrent configuration changes of one new bucket: one change at a time.
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        # SSE-S3: CloudFront's origin access control reads it with no KMS key policy to maintain.
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.ownership]),
        )
        self.pages = [
            aws.s3.BucketObjectv2(
                f"{name}-page-{code}",
                bucket=self.bucket.id,
                key=page_path(code).lstrip("/"),
                content=(PAGES_DIR / f"{code}.html").read_text(),
                content_type="text/html; charset=utf-8",
                cache_control="max-age=300",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.encryption]),
            )
            for code in ERROR_CODES
        ]
        self.origin_access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            name=n.name("errors-oac"),
            description=f"CloudFront reads the error pages of {n.suffix}",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        self.register_outputs({"bucketName": self.bucket.bucket})

    def allow_distribution(self, distribution_arn: pulumi.Input[str]) -> aws.s3.BucketPolicy:
        """Let exactly one distribution read the pages (its OAC signs the requests)."""
        return aws.s3.BucketPolicy(
            f"{self._prefix}-policy",
            bucket=self.bucket.id,
            policy=policies.document(
                policies.statement(
                    "CloudFrontReadsErrorPages",
                    ["s3:GetObject"],
                    [pulumi.Output.concat(self.bucket.arn, "/", PATH_PREFIX, "/*")],
                    Principal={"Service": "cloudfront.amazonaws.com"},
                    Condition={"StringEquals": {"AWS:SourceArn": distribution_arn}},
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
