"""Network: subnets, security groups (ingress and egress), flow logs, task addressing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...aws_types import (
    DEFAULT_SECURITY_GROUP,
    ECS_SERVICE,
    ECS_TASK_SET,
    FLOW_LOG,
    LISTENERS,
    LOAD_BALANCERS,
    SECURITY_GROUP,
    SG_EGRESS,
    SG_INGRESS,
    SG_RULE,
    SUBNET,
    VPC,
)
from ..model import (
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    refers,
    text,
    truthy,
)
from ..registry import Scope, rule
from ._common import WORLD


@rule(
    "subnet-no-auto-public-ip",
    title="Subnets do not assign public IP addresses automatically",
    controls=("FSBP EC2.15",),
    fix="Set map_public_ip_on_launch=False on the subnet.",
    types=(SUBNET,),
)
def subnet_no_public_ip(res: Resource, env: Environment) -> Iterator[str]:
    if truthy(res.get("mapPublicIpOnLaunch")):
        yield "mapPublicIpOnLaunch is true"


def _ingress_rules(view: View) -> Iterator[tuple[Resource, str | None, dict[str, Any], list[str]]]:
    """Every ingress permission: (declaring resource, security group id or None when inline,
    the rule's fields, its world-open sources)."""
    for res in view.of_type(SG_INGRESS):
        sources = [s for s in (text(res.get("cidrIpv4")), text(res.get("cidrIpv6"))) if s in WORLD]
        fields = {"protocol": text(res.get("ipProtocol")), "from": res.get("fromPort"), "to": res.get("toPort")}
        yield res, text(res.get("securityGroupId")), fields, sources
    for res in view.of_type(SG_RULE):
        if res.get("type") != "ingress":
            continue
        sources = [s for s in [*as_list(res.get("cidrBlocks")), *as_list(res.get("ipv6CidrBlocks"))] if s in WORLD]
        fields = {"protocol": text(res.get("protocol")), "from": res.get("fromPort"), "to": res.get("toPort")}
        yield res, text(res.get("securityGroupId")), fields, sources
    for res in view.of_type(SECURITY_GROUP):
        for block in as_list(res.get("ingress")):
            sources = [s for s in [*as_list(get(block, "cidrBlocks")), *as_list(get(block, "ipv6CidrBlocks"))] if s in WORLD]
            fields = {"protocol": text(get(block, "protocol")), "from": get(block, "fromPort"), "to": get(block, "toPort")}
            yield res, None, fields, sources


def _ports(fields: dict[str, Any]) -> tuple[int, int] | None:
    """The TCP port range of a rule, or None when it opens every protocol/port."""
    protocol = fields["protocol"].lower()
    if protocol in ("-1", "all"):
        return None
    low, high = fields["from"], fields["to"]
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return None
    return int(low), int(high)


def _describe(ports: tuple[int, int] | None) -> str:
    if ports is None:
        return "every port"
    return f"port {ports[0]}" if ports[0] == ports[1] else f"ports {ports[0]}-{ports[1]}"


# FSBP EC2.18's default authorizedTcpPorts: what a stack that cannot see the ALB accepts.
STANDARD_LISTENER_PORTS = {80, 443}


@rule(
    "sg-no-world-ingress",
    title="Only the load balancer's listener ports are open to the world",
    controls=("FSBP EC2.18", "FSBP EC2.19", "FSBP EC2.53", "FSBP EC2.54"),
    fix="Open 0.0.0.0/0 only on the ALB's security group and only on its listener ports; everything else "
    "references a security group or a managed prefix list (CloudFront's origin-facing list).",
    scope=Scope.STACK,
    pack_note="The security groups live in the network stack, the load balancer and its listeners in the compute "
    "stack. Alone, the network stack is held to FSBP EC2.18's default (80/443); `invoke check` compares with the "
    "real listeners.",
)
def sg_no_world_ingress(view: View, env: Environment) -> Iterator[Finding]:
    lbs = view.of_type(*LOAD_BALANCERS)
    listener_ports: dict[str, set[int]] = {}  # LB security group id -> its listener ports
    for lb in lbs:
        ports = {
            int(listener.get("port"))
            for listener in view.of_type(*LISTENERS)
            if refers(listener, "loadBalancerArn", lb) and isinstance(listener.get("port"), (int, float))
        }
        for group in as_list(lb.get("securityGroups")):
            listener_ports.setdefault(text(group), set()).update(ports)
    for res, group_id, fields, sources in _ingress_rules(view):
        if not sources:
            continue
        if group_id is None:
            group_id = res.id
        ports = _ports(fields)
        where = f"{_describe(ports)} is open to {', '.join(sources)}"
        allowed = listener_ports.get(group_id)
        if allowed is not None:
            if (
                ports is not None
                and fields["protocol"].lower() in ("tcp", "6")
                and all(p in allowed for p in range(ports[0], ports[1] + 1))
            ):
                continue
            yield Finding(
                res, f"{where} on the load balancer's security group, whose listeners use {sorted(allowed) or 'no ports'}"
            )
        elif lbs or view.whole:
            yield Finding(res, f"{where}, and this is not a load balancer's security group")
        elif (
            ports is not None
            and fields["protocol"].lower() in ("tcp", "6")
            and set(range(ports[0], ports[1] + 1)) <= STANDARD_LISTENER_PORTS
        ):
            yield Finding(
                res,
                where,
                not_judged="this stack cannot see which security group the load balancer uses; "
                "80/443 accepted here (EC2.18 default), `invoke check` judges it over the whole plan",
            )
        else:
            yield Finding(res, f"{where}; only 80/443 may be open to the world, and only on the load balancer")


@rule(
    "sg-rule-descriptions",
    title="Security groups and every rule in them have a description",
    controls=("CKV_AWS_23",),
    fix="Give the security group and each ingress/egress rule a description that says who talks to whom on what port.",
    types=(SECURITY_GROUP, SG_RULE, SG_INGRESS, SG_EGRESS),
)
def sg_rule_descriptions(res: Resource, env: Environment) -> Iterator[str]:
    description = text(res.get("description")).strip()
    if res.type == SECURITY_GROUP:
        if not description or description == "Managed by Pulumi":
            yield "the security group has no description of its own (Pulumi's default 'Managed by Pulumi')"
        for direction in ("ingress", "egress"):
            for index, block in enumerate(as_list(res.get(direction))):
                if not text(get(block, "description")).strip():
                    yield f"inline {direction} rule #{index} has no description"
    elif not description:
        yield "the rule has no description"


@rule(
    "default-sg-closed",
    title="Every VPC's default security group allows no traffic",
    controls=("FSBP EC2.2",),
    fix="Adopt the default security group with aws.ec2.DefaultSecurityGroup(vpc_id=..., ingress=[], egress=[]).",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the VPC.",
)
def default_sg_closed(view: View, env: Environment) -> Iterator[Finding]:
    defaults = view.of_type(DEFAULT_SECURITY_GROUP)
    for group in defaults:
        rules = [d for d in ("ingress", "egress") if as_list(group.get(d))]
        if rules:
            yield Finding(group, f"the default security group still has {' and '.join(rules)} rules")
    for vpc in view.of_type(VPC):
        if not any(refers(group, "vpcId", vpc) for group in defaults):
            yield Finding(vpc, "the VPC's default security group is not managed, so it keeps AWS's allow rules")


@rule(
    "vpc-flow-logs",
    title="Every VPC has flow logs",
    controls=("FSBP EC2.6",),
    fix="Add an aws.ec2.FlowLog(vpc_id=..., traffic_type='ALL') (or at least 'REJECT') to an encrypted log group.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the VPC.",
)
def vpc_flow_logs(view: View, env: Environment) -> Iterator[Finding]:
    flow_logs = view.of_type(FLOW_LOG)
    for vpc in view.of_type(VPC):
        logs = [log for log in flow_logs if refers(log, "vpcId", vpc)]
        if not logs:
            yield Finding(vpc, "no flow log records this VPC's traffic")
        # EC2.6 asks for rejected traffic at least: a flow log of ACCEPT only misses every probe.
        elif not any(text(log.get("trafficType")).upper() in ("ALL", "REJECT") for log in logs):
            kinds = ", ".join(sorted({text(log.get("trafficType")) or "unset" for log in logs}))
            yield Finding(
                vpc, f"the VPC's flow logs record trafficType {kinds}, not ALL or REJECT: rejected traffic goes unrecorded"
            )


@rule(
    "task-no-public-ip",
    title="ECS tasks get no public IP address",
    controls=("FSBP ECS.2", "FSBP ECS.16"),
    fix="Set network_configuration.assign_public_ip=False and run tasks in private subnets.",
    types=(ECS_SERVICE, ECS_TASK_SET),
)
def task_no_public_ip(res: Resource, env: Environment) -> Iterator[str]:
    if truthy(get(first(res.get("networkConfiguration")) or {}, "assignPublicIp")):
        yield "assignPublicIp is true"
