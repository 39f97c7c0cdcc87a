"""Mocks that answer like AWS: realistic, stable identifiers, ARNs and attributes.

Every identifier is derived from a hash of the stack, project, type and logical name, so two
plans of the same code and config are byte-for-byte identical and diff cleanly.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import pulumi

from .. import aws_types as T

MOCK_ACCOUNT_ID = "111122223333"  # AWS's documentation example account: obviously not a real one.

# The account a plan is rendered for. The compliance check renders an environment a second time
# with another account (and region) to tell derived account ids from literal ones.
_ACCOUNT: ContextVar[str] = ContextVar("mlapi_mock_account", default=MOCK_ACCOUNT_ID)


@contextlib.contextmanager
def mock_account(account_id: str) -> Iterator[None]:
    """Render plans inside this block as if the AWS account were ``account_id``."""
    token = _ACCOUNT.set(account_id)
    try:
        yield
    finally:
        _ACCOUNT.reset(token)


_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_SIG_KEY = "4dabf18193072939515e22adb298388d"

# Type token -> (id prefix for EC2-style ids). EC2 ids are "<prefix>-0" + 16 hex digits.
_EC2_PREFIX = {
    T.VPC: "vpc",
    T.SUBNET: "subnet",
    T.INTERNET_GATEWAY: "igw",
    T.NAT_GATEWAY: "nat",
    T.EIP: "eipalloc",
    T.ROUTE_TABLE: "rtb",
    T.ROUTE_TABLE_ASSOCIATION: "rtbassoc",
    T.VPC_ENDPOINT: "vpce",
    T.SECURITY_GROUP: "sg",
    T.DEFAULT_SECURITY_GROUP: "sg",
    T.FLOW_LOG: "fl",
    T.SG_INGRESS: "sgr",
    T.SG_EGRESS: "sgr",
}

# Pulumi module -> ARN service name, where they differ.
_ARN_SERVICE = {
    "cloudwatch": "logs",
    "lb": "elasticloadbalancing",
    "alb": "elasticloadbalancing",
    "appautoscaling": "application-autoscaling",
    "cloudfront": "cloudfront",
    "rds": "rds",
}

_GLOBAL_SERVICES = {"iam", "cloudfront", "route53", "s3"}

# AWS managed CloudFront policies have the same id in every account: answer lookups with it.
_MANAGED_CLOUDFRONT_POLICIES = {
    "Managed-CachingDisabled": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
    "Managed-CachingOptimized": "658327ea-f89d-4fab-a63d-7e88639e58f6",
    "Managed-AllViewer": "216adef6-5c7f-47e4-b989-5492eafa07d3",
    "Managed-AllViewerExceptHostHeader": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
}


def unwrap_secrets(value: Any) -> Any:
    """Mock inputs carry secrets as signature dicts; resource state carries plain values."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return unwrap_secrets(value.get("value"))
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


class PlatformMocks(pulumi.runtime.Mocks):
    """Answers resource registrations and data-source calls for the offline plan and the tests.

    ``stack_outputs`` maps fully qualified stack names to the outputs a StackReference to them
    returns (the earlier layers' exports). ``region`` is the default provider region.
    """

    def __init__(
        self, region: str, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None, account_id: str | None = None
    ) -> None:
        self.region = region
        self.account_id = account_id or _ACCOUNT.get()
        self.stack_outputs = dict(stack_outputs or {})
        self.provider_regions: dict[str, str] = {}
        self.stack_references: list[str] = []
        self.scope = ""

    # -- identifiers ---------------------------------------------------------------------------
    def digest(self, *parts: str) -> str:
        return hashlib.sha256("\x00".join((self.scope, *parts)).encode()).hexdigest()

    def hex_id(self, *parts: str, length: int = 16) -> str:
        return self.digest(*parts)[:length]

    def uuid(self, *parts: str) -> str:
        h = self.digest("uuid", *parts)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"

    def region_of(self, args: Any) -> str:
        explicit = (args.inputs or {}).get("region") if hasattr(args, "inputs") else None
        if isinstance(explicit, str) and explicit:
            return explicit
        if args.provider:
            return self.provider_regions.get(args.provider, self.region)
        return self.region

    def arn(self, service: str, region: str, resource: str) -> str:
        if service in _GLOBAL_SERVICES:
            region = ""
        account = "" if service == "s3" else self.account_id
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    # -- resources -----------------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name = args.typ, args.name
        inputs = unwrap_secrets(dict(args.inputs or {}))
        if not args.custom and not typ.startswith("pulumi:providers:") and typ != "pulumi:pulumi:StackReference":
            return "", {}
        if typ.startswith("pulumi:providers:"):
            return self.uuid(typ, name), inputs
        if typ == "pulumi:pulumi:StackReference":
            ref = inputs.get("name") or name
            self.stack_references.append(ref)
            if ref not in self.stack_outputs:
                from ..errors import PlatformError

                raise PlatformError(
                    f"StackReference to {ref}: that stack was not rendered before this layer. "
                    "Is the layer listed in shared/manifest.py, and does it read only earlier layers?"
                )
            return ref, {"name": ref, "outputs": dict(self.stack_outputs[ref]), "secretOutputNames": []}
        if typ.startswith("random:"):
            return self.random_resource(typ, name, inputs)
        region = self.region_of(args)
        state = dict(inputs)
        rid = self.resource_id(typ, name, inputs, region)
        state.update(self.attributes(typ, name, rid, inputs, region))
        state.setdefault("id", rid)
        return rid, state

    def random_resource(self, typ: str, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The random provider's resources: a stable, obviously fake value of the asked length."""
        state = dict(inputs)
        if typ.endswith((":RandomPassword", ":RandomString")):
            length = int(inputs.get("length") or 16)
            state["result"] = ("mock" + self.digest(typ, name, "result") * 4)[:length]
        if typ.endswith(":RandomId"):
            # byteLength bytes in every encoding the provider reports; its id is the base64url form.
            raw = bytes.fromhex((self.digest(typ, name, "bytes") * 4)[: 2 * int(inputs.get("byteLength") or 8)])
            prefix = str(inputs.get("prefix") or "")
            b64_url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            state.update(
                hex=prefix + raw.hex(),
                b64Url=prefix + b64_url,
                b64Std=prefix + base64.b64encode(raw).decode(),
                dec=prefix + str(int.from_bytes(raw, "big")),
            )
            return state["b64Url"], state
        return self.hex_id(typ, name), state

    def resource_id(self, typ: str, name: str, inputs: Mapping[str, Any], region: str) -> str:
        if typ in _EC2_PREFIX:
            return f"{_EC2_PREFIX[typ]}-0{self.hex_id(typ, name)}"
        physical = inputs.get("name") or inputs.get("bucket") or inputs.get("clusterIdentifier") or inputs.get("identifier")
        if typ in (T.KMS_KEY, T.WEB_ACL, T.CERTIFICATE):
            return self.uuid(typ, name)
        if typ in (T.DISTRIBUTION, T.ORIGIN_ACCESS_CONTROL):
            return "E" + self.digest(typ, name)[:13].upper()
        if typ.startswith("aws:route53/"):
            return "Z" + self.digest(typ, name)[:20].upper()
        if isinstance(physical, str) and physical:
            return physical
        return f"{name}-{self.hex_id(typ, name, length=8)}"

    def attributes(self, typ: str, name: str, rid: str, inputs: Mapping[str, Any], region: str) -> dict[str, Any]:
        module = typ.split(":")[1].split("/")[0]
        kind = typ.split(":")[-1]
        service = _ARN_SERVICE.get(module, module)
        physical = inputs.get("name") or rid
        attrs: dict[str, Any] = {}
        if typ == T.VPC:
            attrs.update(
                arn=self.arn("ec2", region, f"vpc/{rid}"),
                defaultSecurityGroupId=f"sg-0{self.hex_id(typ, name, 'sg')}",
                mainRouteTableId=f"rtb-0{self.hex_id(typ, name, 'rtb')}",
            )
        elif typ.startswith(("aws:ec2/", "aws:vpc/")):
            attrs["arn"] = self.arn("ec2", region, f"{kind[0].lower() + kind[1:]}/{rid}")
            if typ == T.EIP:
                h = self.digest(typ, name)
                attrs["publicIp"] = f"3.{int(h[:2], 16)}.{int(h[2:4], 16)}.{int(h[4:6], 16)}"
            if typ == T.VPC_ENDPOINT:
                attrs["prefixListId"] = f"pl-{self.hex_id(typ, name, length=8)}"
        elif typ == T.KMS_KEY:
            attrs.update(arn=self.arn("kms", region, f"key/{rid}"), keyId=rid)
        elif typ == T.KMS_ALIAS:
            attrs.update(arn=self.arn("kms", region, str(inputs.get("name"))))
        elif typ == T.LOG_GROUP:
            attrs.update(arn=self.arn("logs", region, f"log-group:{physical}"))
        elif typ == T.IAM_ROLE:
            attrs.update(arn=self.arn("iam", region, f"role/{physical}"), uniqueId="AROA" + self.digest(typ, name)[:17].upper())
        elif typ == T.IAM_POLICY:
            attrs.update(arn=self.arn("iam", region, f"policy/{physical}"))
        elif typ in T.LOAD_BALANCERS:
            h = self.hex_id(typ, name)
            kind_path = "app" if inputs.get("loadBalancerType", "application") == "application" else "net"
            suffix = f"{kind_path}/{physical}/{h}"
            attrs.update(
                arn=self.arn("elasticloadbalancing", region, f"loadbalancer/{suffix}"),
                arnSuffix=suffix,
                dnsName=f"{physical}-{int(h[:9], 16)}.{region}.elb.amazonaws.com",
                zoneId="Z35SXDOTRQ7X7K",
            )
        elif typ in T.TARGET_GROUPS:
            suffix = f"targetgroup/{physical}/{self.hex_id(typ, name)}"
            attrs.update(arn=self.arn("elasticloadbalancing", region, suffix), arnSuffix=suffix)
        elif typ in T.LISTENERS:
            # listener/app/<alb-name>/<alb-id>/<listener-id>: under the load balancer it belongs to.
            lb_arn = str(inputs.get("loadBalancerArn") or "")
            owner = (
                lb_arn.split(":loadbalancer/", 1)[1]
                if ":loadbalancer/" in lb_arn
                else f"app/{name}/{self.hex_id(typ, name, 'lb')}"
            )
            attrs.update(arn=self.arn("elasticloadbalancing", region, f"listener/{owner}/{self.hex_id(typ, name)}"))
        elif typ in T.LISTENER_RULES:
            # listener-rule/app/<alb-name>/<alb-id>/<listener-id>/<rule-id>: under its listener.
            listener_arn = str(inputs.get("listenerArn") or "")
            owner = (
                listener_arn.split(":listener/", 1)[1]
                if ":listener/" in listener_arn
                else f"app/{name}/{self.hex_id(typ, name, 'lb')}/{self.hex_id(typ, name, 'l')}"
            )
            attrs.update(arn=self.arn("elasticloadbalancing", region, f"listener-rule/{owner}/{self.hex_id(typ, name)}"))
        elif typ == T.RDS_CLUSTER:
            ident = inputs.get("clusterIdentifier") or rid
            h = self.hex_id(typ, name, length=12)
            attrs.update(
                arn=self.arn("rds", region, f"cluster:{ident}"),
                endpoint=f"{ident}.cluster-{h}.{region}.rds.amazonaws.com",
                readerEndpoint=f"{ident}.cluster-ro-{h}.{region}.rds.amazonaws.com",
                port=inputs.get("port", 5432),
                clusterResourceId="cluster-" + self.digest(typ, name)[:26].upper(),
                hostedZoneId="Z2R2ITUGPM61AM",
            )
            if inputs.get("manageMasterUserPassword"):
                attrs["masterUserSecrets"] = [
                    {
                        "secretArn": self.arn("secretsmanager", region, f"secret:rds!cluster-{self.uuid(typ, name)}-{h[:6]}"),
                        "secretStatus": "active",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                    }
                ]
        elif typ == T.RDS_CLUSTER_INSTANCE:
            ident = inputs.get("identifier") or rid
            attrs.update(
                arn=self.arn("rds", region, f"db:{ident}"),
                endpoint=f"{ident}.{self.hex_id(typ, name, length=12)}.{region}.rds.amazonaws.com",
            )
        elif typ == T.RDS_SUBNET_GROUP:
            attrs.update(arn=self.arn("rds", region, f"subgrp:{physical}"))
        elif typ == T.RDS_CLUSTER_PARAMETER_GROUP:
            attrs.update(arn=self.arn("rds", region, f"cluster-pg:{physical}"))
        elif typ == T.DYNAMODB_TABLE:
            attrs.update(arn=self.arn("dynamodb", region, f"table/{physical}"), streamArn="")
        elif typ == T.SECRETS_MANAGER_SECRET:
            attrs.update(arn=self.arn("secretsmanager", region, f"secret:{physical}-{self.hex_id(typ, name, length=6)}"))
        elif typ == T.ECR_REPOSITORY:
            attrs.update(
                arn=self.arn("ecr", region, f"repository/{physical}"),
                repositoryUrl=f"{self.account_id}.dkr.ecr.{region}.amazonaws.com/{physical}",
                registryId=self.account_id,
            )
        elif typ == T.ECS_CLUSTER:
            attrs.update(arn=self.arn("ecs", region, f"cluster/{physical}"))
        elif typ == T.ECS_SERVICE:
            # service/<cluster-name>/<service-name> (the cluster input is its ARN or its name).
            cluster = str(inputs.get("cluster") or "default").rsplit("/", 1)[-1]
            attrs.update(arn=self.arn("ecs", region, f"service/{cluster}/{physical}"))
        elif typ == T.TASK_DEFINITION:
            family = inputs.get("family") or physical
            attrs.update(
                arn=self.arn("ecs", region, f"task-definition/{family}:1"),
                arnWithoutRevision=self.arn("ecs", region, f"task-definition/{family}"),
                revision=1,
            )
        elif typ == T.DISTRIBUTION:
            attrs.update(
                arn=self.arn("cloudfront", region, f"distribution/{rid}"),
                domainName=f"d{self.hex_id(typ, name, length=13)}.cloudfront.net",
                hostedZoneId="Z2FDTNDATAQYW2",
                status="Deployed",
                etag="E" + self.digest(typ, name, "etag")[:13].upper(),
            )
        elif typ.startswith("aws:cloudfront/"):
            attrs.update(
                arn=self.arn("cloudfront", region, f"{kind[0].lower() + kind[1:]}/{rid}"),
                etag="E" + self.hex_id(typ, name, length=13).upper(),
            )
        elif typ == T.CERTIFICATE:
            domain = inputs.get("domainName", "example.com")
            names = [domain, *[n for n in inputs.get("subjectAlternativeNames", []) if n != domain]]
            attrs.update(
                arn=self.arn("acm", region, f"certificate/{rid}"),
                status="ISSUED",
                domainValidationOptions=[
                    {
                        "domainName": d,
                        "resourceRecordName": f"_{self.hex_id(typ, name, d, length=32)}.{d}.",
                        "resourceRecordType": "CNAME",
                        "resourceRecordValue": f"_{self.hex_id(typ, name, d, 'v', length=32)}.acm-validations.aws.",
                    }
                    for d in names
                ],
            )
        elif typ == T.WEB_ACL:
            scope = "global" if inputs.get("scope") == "CLOUDFRONT" else "regional"
            attrs.update(arn=self.arn("wafv2", region, f"{scope}/webacl/{physical}/{rid}"), capacity=0)
        elif typ in T.S3_BUCKETS:
            bucket = inputs.get("bucket") or rid
            attrs.update(
                arn=f"arn:aws:s3:::{bucket}",
                bucket=bucket,
                bucketDomainName=f"{bucket}.s3.amazonaws.com",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
                region=region,
            )
        elif typ == T.ROUTE53_RECORD:
            attrs.update(fqdn=str(inputs.get("name", "")).rstrip("."))
        elif typ == T.SCALING_TARGET:
            attrs.update(arn=self.arn("application-autoscaling", region, f"scalable-target/{self.hex_id(typ, name, length=20)}"))
        elif typ == T.SCALING_POLICY:
            attrs.update(arn=self.arn("autoscaling", region, f"scalingPolicy:{self.uuid(typ, name)}:resource/{physical}"))
        elif typ == T.METRIC_ALARM:
            attrs.update(arn=self.arn("cloudwatch", region, f"alarm:{physical}"))
        elif typ == T.SNS_TOPIC:
            attrs.update(arn=self.arn("sns", region, physical))
        elif "arn" not in inputs:
            attrs["arn"] = self.arn(service, region, f"{kind[0].lower() + kind[1:]}/{physical}")
        return attrs

    # -- data sources --------------------------------------------------------------------------
    # Any: the SDK types this as (outputs, failures) but also takes the plain outputs dict returned here.
    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        token = args.token
        inputs = unwrap_secrets(dict(args.args or {}))
        region = inputs.get("region") or self.provider_regions.get(args.provider or "", self.region)
        if token == T.GET_AVAILABILITY_ZONES:
            letters = "abcd"
            names = [f"{region}{c}" for c in letters]
            code = "".join(part[:3] for part in region.split("-")[:1]) + "".join(p[0] for p in region.split("-")[1:])
            return {
                "id": region,
                "names": names,
                "zoneIds": [f"{code}-az{i + 1}" for i in range(len(names))],
                "state": "available",
                "groupNames": [region] * len(names),
            }
        if token == T.GET_CALLER_IDENTITY:
            return {
                "id": self.account_id,
                "accountId": self.account_id,
                "arn": f"arn:aws:iam::{self.account_id}:user/plan",
                "userId": "AIDAPLANMOCKUSER0000",
            }
        if token == T.GET_PARTITION:
            return {"id": "aws", "partition": "aws", "dnsSuffix": "amazonaws.com", "reverseDnsPrefix": "com.amazonaws"}
        if token == T.GET_REGION:
            return {
                "id": region,
                "name": region,
                "region": region,
                "endpoint": f"ec2.{region}.amazonaws.com",
                "description": region,
            }
        if token == T.GET_MANAGED_PREFIX_LIST:
            name = inputs.get("name", "")
            return {
                "id": f"pl-{self.hex_id(token, str(name), region, length=8)}",
                "name": name,
                "arn": self.arn("ec2", region, f"prefix-list/pl-{self.hex_id(token, str(name), region, length=8)}"),
                "maxEntries": 55 if "cloudfront" in str(name) else 10,
                "entries": [],
                "addressFamily": "IPv4",
                "ownerId": "AWS",
                "version": 1,
                "filters": [],
                "tags": {},
            }
        if token == T.GET_ROUTE53_ZONE:
            zone_id = inputs.get("zoneId") or "Z" + self.digest(token, str(inputs.get("name")))[:20].upper()
            name = inputs.get("name") or "example.com"
            return {
                "id": zone_id,
                "zoneId": zone_id,
                "name": str(name).rstrip("."),
                "arn": f"arn:aws:route53:::hostedzone/{zone_id}",
            }
        if token == T.GET_CACHE_POLICY or token == T.GET_ORIGIN_REQUEST_POLICY:
            policy = str(inputs.get("name"))
            return {"id": _MANAGED_CLOUDFRONT_POLICIES.get(policy) or self.uuid(token, policy), "name": inputs.get("name")}
        return inputs
