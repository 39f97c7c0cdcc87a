"""Security groups for the load balancer, the service tasks and the database.

Only these paths are open, each by security group and each described:
internet or CloudFront -> ALB on its listener ports; ALB -> tasks on the service port;
tasks -> database on the database port; tasks -> HTTPS out (ECR, Secrets Manager, logs, AWS APIs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag


@dataclass(frozen=True)
class SecurityGroupsArgs:
    namer: Namer
    vpc_id: pulumi.Input[str]
    service_port: int
    database_port: int
    alb_ingress_source: str  # "cloudfront": the edge layer opens the ALB to CloudFront only; "internet": 0.0.0.0/0
    alb_listener_ports: Sequence[int]


class SecurityGroups(pulumi.ComponentResource):
    def __init__(self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:network:SecurityGroups", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)

        def group(key: str, description: str) -> aws.ec2.SecurityGroup:
            # No inline rules: the provider then removes AWS's default allow-all egress, and every
            # rule below is a separate, described resource.
            return aws.ec2.SecurityGroup(
                f"{name}-{key}",
                name=n.name(f"{key}-sg"),
                description=description,
                vpc_id=args.vpc_id,
                tags=name_tag(n.name(f"{key}-sg")),
                opts=child,
            )

        self.alb = group("alb", "ML API load balancer")
        self.service = group("service", "ML API Fargate tasks")
        self.database = group("database", "ML API Aurora cluster")

        if args.alb_ingress_source == "internet":
            for port in args.alb_listener_ports:
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}",
                    security_group_id=self.alb.id,
                    description=f"Clients to the load balancer listener on {port}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4="0.0.0.0/0",
                    opts=child,
                )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out-service",
            security_group_id=self.alb.id,
            description=f"Load balancer to service tasks on {args.service_port}",
            ip_protocol="tcp",
            from_port=args.service_port,
            to_port=args.service_port,
            referenced_security_group_id=self.service.id,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-service-in-alb",
            security_group_id=self.service.id,
            description=f"Service port {args.service_port} from the load balancer only",
            ip_protocol="tcp",
            from_port=args.service_port,
            to_port=args.service_port,
            referenced_security_group_id=self.alb.id,
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-service-out-database",
            security_group_id=self.service.id,
            description=f"Service tasks to the database on {args.database_port}",
            ip_protocol="tcp",
            from_port=args.database_port,
            to_port=args.database_port,
            referenced_security_group_id=self.database.id,
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-service-out-https",
            security_group_id=self.service.id,
            description="Service tasks to AWS APIs and the image registry over HTTPS",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-database-in-service",
            security_group_id=self.database.id,
            description=f"PostgreSQL {args.database_port} from the service tasks only",
            ip_protocol="tcp",
            from_port=args.database_port,
            to_port=args.database_port,
            referenced_security_group_id=self.service.id,
            opts=child,
        )
        self.register_outputs({})


@dataclass(frozen=True)
class PaymentsSecurityGroupsArgs:
    namer: Namer
    vpc_id: pulumi.Input[str]
    database_security_group_id: pulumi.Input[str]
    database_port: int
    service_port: int
    listener_ports: Sequence[int]
    ingress_cidrs: Sequence[str]
    test_listener_port: int
    test_listener_cidrs: Sequence[str]


class PaymentsSecurityGroups(pulumi.ComponentResource):
    """The payments workload's load balancer and task groups, and its path to the shared database.

    clients (paymentsAlbIngressCidrs) -> ALB on its production listener ports; the VPC (or
    paymentsTestListenerCidrs) -> ALB on the test listener port; ALB -> tasks on the payments
    service port; tasks -> database on the database port; tasks -> HTTPS out.
    """

    def __init__(self, name: str, args: PaymentsSecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:network:PaymentsSecurityGroups", name, None, opts)
        n = args.namer
        child = pulumi.ResourceOptions(parent=self)

        def group(key: str, description: str) -> aws.ec2.SecurityGroup:
            # No inline rules, as for the ML API's groups: no default allow-all egress.
            return aws.ec2.SecurityGroup(
                f"{name}-{key}",
                name=n.name(f"{key}-sg"),
                description=description,
                vpc_id=args.vpc_id,
                tags=name_tag(n.name(f"{key}-sg")),
                opts=child,
            )

        self.alb = group("payments-alb", "Payments load balancer")
        self.service = group("payments-service", "Payments Fargate tasks")

        # Each rule is named after its network, not its place in the list: removing or reordering
        # an entry then touches only that entry's rule (by position, every later rule would be
        # changed to its neighbour's network, a duplicate EC2 refuses). The alias keeps the rules of
        # environments deployed with positional names in place.
        for port in args.listener_ports:
            for index, cidr in enumerate(args.ingress_cidrs):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}-{_slug(cidr)}",
                    security_group_id=self.alb.id,
                    description=f"Clients ({cidr}) to the payments production listener on {port}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    cidr_ipv4=cidr,
                    opts=pulumi.ResourceOptions.merge(child, _was(f"{name}-alb-in-{port}-{index}")),
                )
        test_port = args.test_listener_port
        for index, cidr in enumerate(args.test_listener_cidrs):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-alb-in-test-{_slug(cidr)}",
                security_group_id=self.alb.id,
                description=f"Testers ({cidr}) to the payments test listener on {test_port} (the version not yet released)",
                ip_protocol="tcp",
                from_port=test_port,
                to_port=test_port,
                cidr_ipv4=cidr,
                opts=pulumi.ResourceOptions.merge(child, _was(f"{name}-alb-in-test-{index}")),
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-out-service",
            security_group_id=self.alb.id,
            description=f"Payments load balancer to payments tasks on {args.service_port}",
            ip_protocol="tcp",
            from_port=args.service_port,
            to_port=args.service_port,
            referenced_security_group_id=self.service.id,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-service-in-alb",
            security_group_id=self.service.id,
            description=f"Payments service port {args.service_port} from the payments load balancer only",
            ip_protocol="tcp",
            from_port=args.service_port,
            to_port=args.service_port,
            referenced_security_group_id=self.alb.id,
            opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-service-out-database",
            security_group_id=self.service.id,
            description=f"Payments tasks to the database on {args.database_port}",
            ip_protocol="tcp",
            from_port=args.database_port,
            to_port=args.database_port,
            referenced_security_group_id=args.database_security_group_id,
            opts=child,
        )
        # Mirrors the ML API tasks: the default image comes from ECR Public through the NAT, and the
        # AWS APIs without an interface endpoint (ECS Exec's ssmmessages, STS) are reached the same way.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-service-out-https",
            security_group_id=self.service.id,
            description="Payments tasks to AWS APIs and the image registry over HTTPS",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-database-in-service",
            security_group_id=args.database_security_group_id,
            description=f"PostgreSQL {args.database_port} from the payments tasks only",
            ip_protocol="tcp",
            from_port=args.database_port,
            to_port=args.database_port,
            referenced_security_group_id=self.service.id,
            opts=child,
        )
        self.register_outputs({})


def _slug(cidr: str) -> str:
    """203.0.113.0/24 -> 203-0-113-0-24: a network in a logical name."""
    return cidr.replace(".", "-").replace("/", "-")


def _was(old_name: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old_name)])
