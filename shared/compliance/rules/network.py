"""Network: subnets, security groups (ingress and egress), flow logs, task addressing."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
    VPC_ENDPOINT,
)
from ...errors import ConfigError
from ...naming import Namer
from ..model import (
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    first,
    get,
    known,
    referenced,
    refers,
    text,
    truthy,
)
from ..registry import AppliesTo, Scope, rule
from ._common import WORLD, limits_to_accounts, public_statements, public_subnet_reasons

# Condition keys that pin a '*' principal of an endpoint policy to named accounts or the organization.
ENDPOINT_CONDITION_KEYS = {"aws:principalaccount", "aws:principalorgid", "aws:resourceaccount", "aws:resourceorgid"}


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
        lb_ports = {
            int(listener.get("port"))
            for listener in view.of_type(*LISTENERS)
            if refers(listener, "loadBalancerArn", lb) and isinstance(listener.get("port"), (int, float))
        }
        for group in as_list(lb.get("securityGroups")):
            listener_ports.setdefault(text(group), set()).update(lb_ports)
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


# -- egress ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EgressException:
    """A destination wider than a security group or a prefix list that one kind of security group
    may reach, and why. ``groups`` are the groups' name parts (``env.name("service-sg")``)."""

    name: str
    groups: tuple[str, ...]
    protocol: str
    port: int
    destinations: frozenset[str]
    why: str
    # Where the exception holds: every environment, or only ephemeral / protected ones.
    applies_to: AppliesTo = AppliesTo.ALL


EGRESS_EXCEPTIONS: tuple[EgressException, ...] = (
    EgressException(
        name="tasks-https-through-nat",
        groups=("service-sg", "payments-service-sg"),
        protocol="tcp",
        port=443,
        destinations=frozenset({"0.0.0.0/0"}),
        why="the tasks pull the default image from ECR Public and call AWS APIs that have no interface endpoint in the "
        "VPC (STS, ECS Exec's ssmmessages; ECR, CloudWatch Logs and Secrets Manager too unless the environment has "
        "the payments layer's endpoints) through the NAT gateway. Those services publish no prefix list, so HTTPS to "
        "any address is the narrowest rule that works; nothing else leaves the VPC",
    ),
)

ALL_PROTOCOLS = {"-1", "all"}
PORT_PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp"}
EVERY_PORT = (0, 65535)


@dataclass(frozen=True)
class _Egress:
    """One egress permission: who declares it, the group it belongs to (None when not in view),
    the protocol and ports, and its destinations - named (a security group, a prefix list) or CIDRs."""

    declared_by: Resource
    group: Resource | None
    protocol: str
    ports: tuple[int, int] | None
    named: tuple[str, ...]
    cidrs: tuple[str, ...]


def _peers(res: Resource, block: Any, keys: dict[str, str]) -> list[str]:
    """The named destinations of a rule (``keys``: input -> what it names)."""
    found: list[str] = []
    for key, kind in keys.items():
        value = known(block, key)
        if key == "self":
            if truthy(value):
                found.append("its own security group")
            continue
        items = [text(v) for v in as_list(value)]
        if not items and block is res.inputs and res.dependencies.get(key):
            items = ["(not known yet)"]  # a preview: the engine says it comes from another resource
        found += [f"{kind} {item or '(not known yet)'}" for item in items]
    return found


def _cidrs(block: Any, *keys: str) -> tuple[str, ...]:
    return tuple(text(c) for key in keys for c in as_list(known(block, key)) if text(c))


def _port_range(protocol: str, low: Any, high: Any) -> tuple[int, int] | None:
    if protocol in ALL_PROTOCOLS or not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return None
    return int(low), int(high)


def _egress_permissions(view: View) -> Iterator[_Egress]:
    def owner(res: Resource) -> Resource | None:
        groups = referenced(view, res, "securityGroupId", SECURITY_GROUP)
        return groups[0] if groups else None

    for res in view.of_type(SG_EGRESS):
        protocol = text(res.get("ipProtocol")).lower()
        yield _Egress(
            declared_by=res,
            group=owner(res),
            protocol=protocol,
            ports=_port_range(protocol, res.get("fromPort"), res.get("toPort")),
            named=tuple(_peers(res, res.inputs, {"referencedSecurityGroupId": "security group", "prefixListId": "prefix list"})),
            cidrs=_cidrs(res.inputs, "cidrIpv4", "cidrIpv6"),
        )
    for res in view.of_type(SG_RULE):
        if res.get("type") != "egress":
            continue
        protocol = text(res.get("protocol")).lower()
        yield _Egress(
            declared_by=res,
            group=owner(res),
            protocol=protocol,
            ports=_port_range(protocol, res.get("fromPort"), res.get("toPort")),
            named=tuple(
                _peers(
                    res,
                    res.inputs,
                    {"sourceSecurityGroupId": "security group", "self": "", "prefixListIds": "prefix list"},
                )
            ),
            cidrs=_cidrs(res.inputs, "cidrBlocks", "ipv6CidrBlocks"),
        )
    for res in view.of_type(SECURITY_GROUP):
        for block in as_list(res.get("egress")):
            protocol = text(get(block, "protocol")).lower()
            yield _Egress(
                declared_by=res,
                group=res,
                protocol=protocol,
                ports=_port_range(protocol, get(block, "fromPort"), get(block, "toPort")),
                named=tuple(_peers(res, block, {"securityGroups": "security group", "self": "", "prefixListIds": "prefix list"})),
                cidrs=_cidrs(block, "cidrBlocks", "ipv6CidrBlocks"),
            )


def _names(env: Environment, parts: Sequence[str]) -> set[str]:
    """The physical names the layers give these parts in ``env`` (none for a suffix no layer accepts)."""
    try:
        namer = Namer(env.suffix)
    except ConfigError:
        return set()
    return {namer.name(part) for part in parts}


def _group_name(group: Resource) -> str:
    return text(known(group.inputs, "name"))


def _exception_for(
    egress: _Egress, cidr: str, env: Environment, exceptions: Sequence[EgressException]
) -> tuple[EgressException | None, str]:
    """The exception that names this group, protocol, port and destination (and why it does not
    hold here, when it names them but not this kind of environment)."""
    if egress.ports is None or egress.ports[0] != egress.ports[1]:
        return None, ""
    protocol = PORT_PROTOCOLS.get(egress.protocol, egress.protocol)
    for exception in exceptions:
        if exception.protocol != protocol or exception.port != egress.ports[0] or cidr not in exception.destinations:
            continue
        if egress.group is not None and _group_name(egress.group) not in _names(env, exception.groups):
            continue
        if exception.applies_to is AppliesTo.PROTECTED and not env.protect:
            return None, f"exception {exception.name} holds for protected environments only"
        if exception.applies_to is AppliesTo.EPHEMERAL and env.protect:
            return None, f"exception {exception.name} holds for ephemeral environments only"
        return exception, ""
    return None, ""


def egress_findings(view: View, env: Environment, exceptions: Sequence[EgressException] = EGRESS_EXCEPTIONS) -> Iterator[Finding]:
    """The egress rule over ``view`` with the given exception list (the rule uses EGRESS_EXCEPTIONS)."""
    for egress in _egress_permissions(view):
        res = egress.declared_by
        group = f" of {egress.group.label()}" if egress.group is not None and egress.group is not res else ""
        destinations = ", ".join([*egress.named, *egress.cidrs]) or "(no destination)"
        if egress.protocol in ALL_PROTOCOLS:
            yield Finding(res, f"egress{group} allows every protocol and port to {destinations}: never allowed")
            continue
        if egress.protocol not in PORT_PROTOCOLS:
            yield Finding(
                res, f"egress{group} over protocol {egress.protocol or 'unset'} to {destinations}: name tcp or udp ports"
            )
            continue
        if egress.ports is None or egress.ports == EVERY_PORT:
            yield Finding(res, f"egress{group} allows every {egress.protocol} port to {destinations}: never allowed")
            continue
        low, high = egress.ports
        if low != high:
            yield Finding(res, f"egress{group} allows ports {low}-{high} to {destinations}: name each port (one rule per port)")
            continue
        for cidr in egress.cidrs:
            where = f"egress{group} to {cidr} on {egress.protocol} port {low}"
            exception, why_not = _exception_for(egress, cidr, env, exceptions)
            if exception is not None and egress.group is None:
                yield Finding(
                    res,
                    where,
                    not_judged=f"exception {exception.name} allows this from its security groups only, and the group is "
                    "not in this stack; `invoke check` judges it over the whole plan",
                )
            elif exception is not None:
                yield Finding(res, where, waived=f"exception {exception.name}: {exception.why}")
            else:
                yield Finding(
                    res,
                    f"{where}: wider than a security group or a prefix list, and "
                    + (why_not or "no entry of the egress exception list names it"),
                )


@rule(
    "sg-egress-restricted",
    title="Security groups send traffic only to named security groups or prefix lists, on named ports",
    controls=("NIST 800-53 SC-7(5)", "tfsec aws-vpc-no-public-egress-sgr", "MLAPI egress by exception"),
    fix="Send egress to a security group (referenced_security_group_id) or a prefix list (prefix_list_id, a gateway "
    "endpoint's) with one tcp/udp port per rule. Protocol -1 or every port is never allowed; a CIDR destination "
    "(0.0.0.0/0, the VPC range) needs a named, justified entry in "
    "shared.compliance.rules.network.EGRESS_EXCEPTIONS (see docs of the Compliance checks).",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the security groups and their rules (the network stack); an "
    "exception names security groups, so a rule whose group is in another stack is left to `invoke check`.",
)
def sg_egress_restricted(view: View, env: Environment) -> Iterator[Finding]:
    yield from egress_findings(view, env)


# What EC2 accepts in a security group's or rule's description (CreateSecurityGroup,
# IpRange/UserIdGroupPair Description): anything else fails the create with InvalidParameterValue.
EC2_DESCRIPTION = re.compile(r"[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}")


def _ec2_refuses(description: str) -> str | None:
    if EC2_DESCRIPTION.fullmatch(description):
        return None
    if len(description) > 255:
        return f"is {len(description)} characters long (EC2 allows 255)"
    bad = sorted({c for c in description if not EC2_DESCRIPTION.fullmatch(c)})
    return (
        f"has {', '.join(repr(c) for c in bad)}, which EC2 refuses (allowed: letters, digits, spaces and ._-:/()#,@[]+=&;{{}}!$*)"
    )


@rule(
    "sg-rule-descriptions",
    title="Security groups and every rule in them have a description EC2 accepts",
    controls=("CKV_AWS_23",),
    fix="Give the security group and each ingress/egress rule a description that says who talks to whom on what port, "
    "in the characters EC2 accepts (letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*; no apostrophe), at most 255.",
    types=(SECURITY_GROUP, SG_RULE, SG_INGRESS, SG_EGRESS),
)
def sg_rule_descriptions(res: Resource, env: Environment) -> Iterator[str]:
    description = text(res.get("description")).strip()
    if res.type == SECURITY_GROUP:
        if not description or description == "Managed by Pulumi":
            yield "the security group has no description of its own (Pulumi's default 'Managed by Pulumi')"
        for direction in ("ingress", "egress"):
            for index, block in enumerate(as_list(res.get(direction))):
                inline = text(get(block, "description")).strip()
                if not inline:
                    yield f"inline {direction} rule #{index} has no description"
                elif problem := _ec2_refuses(inline):
                    yield f"inline {direction} rule #{index}'s description {inline!r} {problem}"
    elif not description:
        yield "the rule has no description"
    if description and (problem := _ec2_refuses(description)):
        yield f"the description {description!r} {problem}"


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


# -- interface VPC endpoints ----------------------------------------------------------------------
def _interface(res: Resource) -> bool:
    return text(res.get("vpcEndpointType")) == "Interface"


@rule(
    "vpc-endpoint-private-dns",
    title="Interface VPC endpoints answer for the service's own name, in subnets, behind a security group",
    controls=("MLAPI private endpoints",),
    fix="Set private_dns_enabled=True, subnet_ids=<the private subnets, one per AZ> and security_group_ids="
    "[<the endpoints' own security group>] on the interface endpoint.",
    types=(VPC_ENDPOINT,),
)
def vpc_endpoint_private_dns(res: Resource, env: Environment) -> Iterator[str]:
    if not _interface(res):
        return  # gateway endpoints are routes: no DNS, no subnets, no security group
    # Without private DNS the SDKs keep resolving the public name: traffic still leaves through the NAT.
    if not truthy(res.get("privateDnsEnabled")):
        yield "privateDnsEnabled is not true: clients still resolve the service's public endpoint"
    if not as_list(res.get("subnetIds")):
        yield "the endpoint has no subnets (one network interface per private subnet)"
    if not as_list(res.get("securityGroupIds")):
        yield "the endpoint names no security group: it gets the VPC's default group"


def _endpoint_groups(view: View, endpoint: Resource) -> list[Resource]:
    return referenced(view, endpoint, "securityGroupIds", SECURITY_GROUP)


@dataclass(frozen=True)
class _Ingress:
    declared_by: Resource
    protocol: str
    ports: tuple[int, int] | None
    cidrs: tuple[str, ...]


def _ingress_of(view: View, group: Resource) -> Iterator[_Ingress]:
    """Every ingress permission of ``group`` with all its CIDR sources (named sources need none)."""
    for res in view.of_type(SG_INGRESS):
        if refers(res, "securityGroupId", group):
            protocol = text(res.get("ipProtocol")).lower()
            yield _Ingress(
                res,
                protocol,
                _port_range(protocol, res.get("fromPort"), res.get("toPort")),
                _cidrs(res.inputs, "cidrIpv4", "cidrIpv6"),
            )
    for res in view.of_type(SG_RULE):
        if res.get("type") == "ingress" and refers(res, "securityGroupId", group):
            protocol = text(res.get("protocol")).lower()
            yield _Ingress(
                res,
                protocol,
                _port_range(protocol, res.get("fromPort"), res.get("toPort")),
                _cidrs(res.inputs, "cidrBlocks", "ipv6CidrBlocks"),
            )
    for block in as_list(group.get("ingress")):
        protocol = text(get(block, "protocol")).lower()
        yield _Ingress(
            group,
            protocol,
            _port_range(protocol, get(block, "fromPort"), get(block, "toPort")),
            _cidrs(block, "cidrBlocks", "ipv6CidrBlocks"),
        )


@rule(
    "vpc-endpoint-sg-https-only",
    title="Interface endpoints' security groups admit only HTTPS (443), from security groups or the VPC's own range",
    controls=("MLAPI private endpoints", "FSBP EC2.18"),
    fix="Give the endpoints a security group of their own whose only ingress is tcp 443 from the client tasks' "
    "security groups (referenced_security_group_id), or at widest from the VPC's CIDR.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the endpoints, their security group and the VPC (the network stack).",
)
def vpc_endpoint_sg_https_only(view: View, env: Environment) -> Iterator[Finding]:
    seen: set[str] = set()
    for endpoint in view.of_type(VPC_ENDPOINT):
        if not _interface(endpoint):
            continue
        vpc_ranges = {
            text(vpc.get("cidrBlock")) for vpc in referenced(view, endpoint, "vpcId", VPC) if text(vpc.get("cidrBlock"))
        }
        for group in _endpoint_groups(view, endpoint):
            if group.urn in seen:
                continue
            seen.add(group.urn)
            for ingress in _ingress_of(view, group):
                where = f"ingress of {group.label()} (used by interface endpoints)"
                if ingress.protocol not in ("tcp", "6") or ingress.ports != (443, 443):
                    yield Finding(
                        ingress.declared_by,
                        f"{where} admits {ingress.protocol or 'unset'} {_describe(ingress.ports)}: endpoints serve HTTPS 443 only",
                    )
                for cidr in ingress.cidrs:
                    if cidr in WORLD or cidr not in vpc_ranges:
                        yield Finding(
                            ingress.declared_by,
                            f"{where} admits {cidr}: only security groups or the VPC's own range "
                            f"({', '.join(sorted(vpc_ranges)) or 'not in view'}) may reach the endpoints",
                        )


@rule(
    "vpc-endpoint-in-private-subnets",
    title="Interface endpoints' network interfaces sit in private subnets",
    controls=("MLAPI private endpoints",),
    fix="Build the interface endpoints' subnet_ids from the network layer's private subnets.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the endpoints and the subnets (the network stack).",
)
def vpc_endpoint_in_private_subnets(view: View, env: Environment) -> Iterator[Finding]:
    public = public_subnet_reasons(view)
    for endpoint in view.of_type(VPC_ENDPOINT):
        if not _interface(endpoint):
            continue
        for subnet in referenced(view, endpoint, "subnetIds", SUBNET):
            if subnet.urn in public:
                yield Finding(endpoint, f"subnet {subnet.label()} is public: {public[subnet.urn]}")


@rule(
    "vpc-endpoint-policy-scoped",
    title="A VPC endpoint policy grants '*' principals only within named accounts or the organization",
    controls=("MLAPI private endpoints",),
    fix="Leave the policy out (the service's default) or give each statement with Principal '*' a StringEquals "
    "condition on aws:PrincipalAccount (or aws:PrincipalOrgID / aws:ResourceAccount) naming the account(s).",
    types=(VPC_ENDPOINT,),
)
def vpc_endpoint_policy_scoped(res: Resource, env: Environment) -> Iterator[str]:
    for statement in public_statements(res.get("policy")):
        if not limits_to_accounts(statement.get("Condition"), ENDPOINT_CONDITION_KEYS):
            yield (
                f"statement {statement.get('Sid', '(no Sid)')!r} allows Principal '*' without a StringEquals condition "
                "naming the account(s) or organization"
            )
