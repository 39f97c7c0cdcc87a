"""The service's private image registry (ECR)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..naming import Namer
from ..tags import name_tag
from . import component_type


@dataclass(frozen=True)
class ImageRegistryArgs:
    namer: Namer
    kms_key_arn: pulumi.Input[str]
    keep_images: int
    # Refuse to delete a repository that holds images (EnvironmentSettings.blocks_deletion).
    blocks_deletion: bool
    # The resource part of the repository's name (``mlapi-<part>-<suffix>``).
    name_part: str = "api"


# Untagged images (orphans of re-pushed multi-arch indexes, failed pushes) expire after this many days.
UNTAGGED_DAYS = 7


def lifecycle_policy(keep_images: int) -> str:
    """Untagged images expire after UNTAGGED_DAYS. Tagged ones expire beyond the newest
    ``keep_images`` only when it is above 0: ECR does not know which image the service runs, and
    with more than that many pushes after a deploy it would delete it; the next task start (a
    scale-out, a Fargate Spot replacement, a rollback) would then fail to pull."""
    rules: list[dict[str, object]] = [
        {
            "rulePriority": 1,
            "description": f"Untagged images expire after {UNTAGGED_DAYS} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": UNTAGGED_DAYS,
            },
            "action": {"type": "expire"},
        }
    ]
    if keep_images > 0:
        rules.append(
            {
                "rulePriority": 2,
                "description": f"Keep only the newest {keep_images} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep_images},
                "action": {"type": "expire"},
            }
        )
    return json.dumps({"rules": rules})


class ImageRegistry(pulumi.ComponentResource):
    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None, *, layer: str) -> None:
        super().__init__(component_type(layer, "ImageRegistry"), name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)
        repo_name = n.name(args.name_part, kind="ecr")
        self.repository = aws.ecr.Repository(
            f"{name}-repository",
            name=repo_name,
            # Immutable tags: a tag names one build forever, so a task definition revision always
            # runs the code it was deployed with.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS", kms_key=args.kms_key_arn)
            ],
            # An ephemeral or decommissioning environment must be destroyable even with images in it.
            force_delete=not args.blocks_deletion,
            tags=name_tag(repo_name),
            opts=child,
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-lifecycle",
            repository=self.repository.name,
            policy=lifecycle_policy(args.keep_images),
            opts=child,
        )
        self.register_outputs({"repositoryUrl": self.repository.repository_url})
