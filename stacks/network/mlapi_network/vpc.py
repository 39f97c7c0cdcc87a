"""The VPC: subnets in three AZs, internet and NAT gateways, routes, gateway endpoints, and the
default security group closed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag


@dataclass(frozen=True)
class VpcArgs:
    namer: Namer
    region: str
    cidr: str
    availability_zones: Sequence[str]
    public_subnet_cidrs: Sequence[str]
    private_subnet_cidrs: Sequence[str]
    nat_gateway_per_az: bool


class Vpc(pulumi.ComponentResource):
    """Three public and three private subnets (one each per AZ); private egress through NAT."""

    def __init__(self, name: str, args: VpcArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:network:Vpc", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=name_tag(n.name("vpc")),
            opts=child,
        )
        # Without explicit rules the default security group denies everything: nothing should use it.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags=name_tag(n.name("default-closed")),
            opts=child,
        )
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=name_tag(n.name("igw")), opts=child
        )

        self.public_subnets: list[aws.ec2.Subnet] = []
        self.private_subnets: list[aws.ec2.Subnet] = []
        for index, (az, public_cidr, private_cidr) in enumerate(
            zip(args.availability_zones, args.public_subnet_cidrs, args.private_subnet_cidrs, strict=False)
        ):
            self.public_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-public-{index}",
                    vpc_id=self.vpc.id,
                    cidr_block=public_cidr,
                    availability_zone=az,
                    # Only the ALB and NAT gateways live here and both get their own addresses.
                    map_public_ip_on_launch=False,
                    tags=name_tag(n.name(f"public-{az}"), Tier="public"),
                    opts=child,
                )
            )
            self.private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{index}",
                    vpc_id=self.vpc.id,
                    cidr_block=private_cidr,
                    availability_zone=az,
                    map_public_ip_on_launch=False,
                    tags=name_tag(n.name(f"private-{az}"), Tier="private"),
                    opts=child,
                )
            )

        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=self.internet_gateway.id)],
            tags=name_tag(n.name("public-rt")),
            opts=child,
        )
        for index, subnet in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{index}", subnet_id=subnet.id, route_table_id=self.public_route_table.id, opts=child
            )

        # One NAT gateway (about $33/month each plus data) unless the environment asks for one per AZ,
        # which keeps private egress up when a single AZ fails.
        nat_count = len(self.public_subnets) if args.nat_gateway_per_az else 1
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        for index in range(nat_count):
            az = args.availability_zones[index]
            eip = aws.ec2.Eip(f"{name}-nat-eip-{index}", domain="vpc", tags=name_tag(n.name(f"nat-{az}")), opts=child)
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{index}",
                    allocation_id=eip.id,
                    subnet_id=self.public_subnets[index].id,
                    tags=name_tag(n.name(f"nat-{az}")),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self.internet_gateway]),
                )
            )

        self.private_route_tables: list[aws.ec2.RouteTable] = []
        for index, subnet in enumerate(self.private_subnets):
            az = args.availability_zones[index]
            nat = self.nat_gateways[index % nat_count]
            table = aws.ec2.RouteTable(
                f"{name}-private-rt-{index}",
                vpc_id=self.vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags=name_tag(n.name(f"private-rt-{az}")),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-rta-{index}", subnet_id=subnet.id, route_table_id=table.id, opts=child)
            self.private_route_tables.append(table)

        # Gateway endpoints are free and keep S3 (ECR layers) and DynamoDB traffic off the NAT.
        self.endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        for service in ("s3", "dynamodb"):
            self.endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[t.id for t in self.private_route_tables],
                tags=name_tag(n.name(f"{service}-endpoint")),
                opts=child,
            )

        self.register_outputs({"vpcId": self.vpc.id})
