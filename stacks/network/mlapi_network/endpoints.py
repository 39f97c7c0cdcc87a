"""Interface VPC endpoints, so tasks in the private subnets pull images, read secrets and write
logs without the NAT gateway, behind a security group of their own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag


@dataclass(frozen=True)
class InterfaceEndpointsArgs:
    namer: Namer
    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    services: Sequence[str]
    # Who may use the endpoints: layer name (for names and descriptions) -> its tasks' security group id.
    client_security_group_ids: Mapping[str, pulumi.Input[str]]


class InterfaceEndpoints(pulumi.ComponentResource):
    def __init__(self, name: str, args: InterfaceEndpointsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:network:InterfaceEndpoints", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)

        # No egress rule at all: an endpoint only answers, and security groups are stateful.
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            name=n.name("endpoints-sg"),
            description="Interface VPC endpoints (HTTPS from the service tasks only)",
            vpc_id=args.vpc_id,
            tags=name_tag(n.name("endpoints-sg")),
            opts=child,
        )
        # Private DNS points the services' public names at these endpoints for every client in the VPC,
        # so each workload that calls them must be admitted here, or its image pulls time out.
        for label, group_id in args.client_security_group_ids.items():
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{label}",
                security_group_id=self.security_group.id,
                description=f"HTTPS from the {label} tasks to the interface endpoints",  # EC2 refuses an apostrophe
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                referenced_security_group_id=group_id,
                opts=child,
            )

        self.endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in args.services:
            key = service.replace(".", "-")
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{key}",
                vpc_id=args.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                # One ENI per private subnet, so one per AZ: an AZ failure takes only its own ENI.
                subnet_ids=list(args.subnet_ids),
                security_group_ids=[self.security_group.id],
                private_dns_enabled=True,
                tags=name_tag(n.name(f"{key}-endpoint")),
                opts=child,
            )
        self.register_outputs({"securityGroupId": self.security_group.id})
