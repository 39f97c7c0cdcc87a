"""Only CloudFront reaches the load balancer: an ingress rule from CloudFront's origin-facing
addresses (an AWS-managed prefix list) on the one port the distribution uses."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag

CLOUDFRONT_ORIGIN_FACING = "com.amazonaws.global.cloudfront.origin-facing"


def origin_port(protocol: pulumi.Input[str]) -> pulumi.Output[int]:
    return pulumi.Output.from_input(protocol).apply(lambda p: 443 if p == "https" else 80)


@dataclass(frozen=True)
class CloudFrontToAlbArgs:
    namer: Namer
    alb_security_group_id: pulumi.Input[str]
    origin_protocol: pulumi.Input[str]  # "https" or "http"


class CloudFrontToAlb(pulumi.ComponentResource):
    """Give it the environment's regional provider: the prefix list id differs per region."""

    def __init__(self, name: str, args: CloudFrontToAlbArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:edge:CloudFrontToAlb", name, None, opts)
        self.prefix_list = aws.ec2.get_managed_prefix_list_output(
            name=CLOUDFRONT_ORIGIN_FACING, opts=pulumi.InvokeOptions(parent=self)
        )
        port = origin_port(args.origin_protocol)
        # A prefix list counts as its max entries (about 55 for this one) against the quota of
        # 60 rules per security group, so the rule opens one port only: the one CloudFront uses.
        self.rule = aws.vpc.SecurityGroupIngressRule(
            f"{name}-in",
            security_group_id=args.alb_security_group_id,
            description=pulumi.Output.concat("CloudFront origin-facing addresses to the load balancer on ", port.apply(str)),
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            prefix_list_id=self.prefix_list.id,
            tags=name_tag(args.namer.name("alb-from-cloudfront")),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"ruleId": self.rule.id})
