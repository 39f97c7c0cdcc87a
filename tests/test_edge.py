"""The edge layer: its real program under the mock runtime, with realistic upstream outputs, and
its settings loader on its own (including a real run, where the offline plan's samples are refused)."""

from __future__ import annotations

import importlib
import inspect
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import layer_of, plan_layers, policy

from mlapi_edge.error_pages import ErrorPages, ErrorPagesArgs, bucket_name
from mlapi_edge.settings import (
    CERT_ACM,
    CERT_DEFAULT,
    SAMPLE_HOSTED_ZONE_ID,
    SAMPLE_PARENT_DOMAIN,
    EdgeSettings,
)
from shared import manifest
from shared.config import ConfigReader
from shared.errors import ConfigError, PlatformError
from shared.naming import MAX_SUFFIX_LENGTH
from shared.plan.engine import render_program, run_main
from shared.plan.mocks import MOCK_ACCOUNT_ID, PlatformMocks
from shared.settings import EnvironmentSettings
from shared.stack_config import assemble

EDGE_DIR = manifest.STACKS_DIR / "edge"
PROVIDER = "pulumi:providers:aws"
CERT = "aws:acm/certificate:Certificate"
CERT_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
OAC = "aws:cloudfront/originAccessControl:OriginAccessControl"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
BUCKET = "aws:s3/bucket:Bucket"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"

# AWS managed CloudFront policies (the same id in every account).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
MANAGED_GROUPS = {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesAmazonIpReputationList"}

REAL_DOMAIN = {"parentDomain": "api.mycompany.io", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}
ALB_SG = "sg-0a1b2c3d4e5f60718"


def upstream_outputs(env: str, region: str, protocol: str) -> dict[str, dict[str, Any]]:
    """What the network and compute layers export, as a real stack would (fake but realistic)."""
    dns = f"mlapi-alb-{env}-1234567890.{region}.elb.amazonaws.com"
    return {
        f"organization/mlapi-network/{env}": {"albSecurityGroupId": ALB_SG, "vpcId": "vpc-0123456789abcdef0"},
        f"organization/mlapi-compute/{env}": {
            "albArn": f"arn:aws:elasticloadbalancing:{region}:{MOCK_ACCOUNT_ID}:loadbalancer/app/mlapi-alb-{env}/50dc6c495c0c9188",
            "albDnsName": dns,
            "originProtocol": protocol,
            "originHostname": f"origin.{env}.mycompany.io" if protocol == "https" else dns,
        },
    }


def render_edge(
    config: dict[str, Any] | None = None,
    *,
    env: str = "test",
    region: str = "us-east-1",
    protocol: str = "http",
    outputs: dict[str, dict[str, Any]] | None = None,
):
    """Render stacks/edge/__main__.py with the config the plan would assemble for it."""
    layer = manifest.by_name("edge")
    cfg = assemble(layer, env, overrides={"aws:region": region, "environmentSuffix": env, **(config or {})})
    return render_program(
        run_main(EDGE_DIR),
        project=layer.project,
        stack=env,
        region=region,
        config=cfg.values,
        stack_outputs=outputs or upstream_outputs(env, region, protocol),
    )


def provider_region(rendered, registration) -> str:
    """The region input of the provider a resource registered with."""
    urn = registration.provider.rsplit("::", 1)[0]
    provider = rendered.by_urn(urn)
    assert provider.type == PROVIDER
    return provider.inputs["region"]


def by_scope(rendered, scope: str):
    return next(a for a in rendered.of_type(WEB_ACL) if a.inputs["scope"] == scope)


@pytest.fixture(scope="module")
def edge():
    """Sample domain settings (the offline plan's defaults), HTTP origin, us-east-1."""
    return render_edge()


@pytest.fixture(scope="module")
def edge_eu():
    """Another region, an HTTPS origin and real-looking domain settings."""
    return render_edge(REAL_DOMAIN, region="eu-west-1", protocol="https")


@pytest.fixture(scope="module")
def edge_default_cert():
    return render_edge({"acceptDefaultCertificate": "true"})


# -- certificate and DNS ---------------------------------------------------------------------


def test_sample_settings_render_offline_and_the_outputs_say_so(edge):
    hostname = f"test.{SAMPLE_PARENT_DOMAIN}"
    assert edge.outputs["usedSampleDomain"] is True
    assert edge.outputs["certificateMode"] == CERT_ACM
    assert edge.outputs["siteHostname"] == hostname
    assert edge.outputs["distributionUrl"] == f"https://{hostname}"
    assert edge.one(CERT).inputs["domainName"] == hostname


def test_the_plan_logs_that_it_used_the_sample(caplog):
    with caplog.at_level(logging.WARNING):
        render_edge()
    assert any("SAMPLE domain settings" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        render_edge(REAL_DOMAIN)
    assert not any("SAMPLE" in r.getMessage() or "acceptDefaultCertificate" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        render_edge({"acceptDefaultCertificate": "true"})
    assert any(
        "acceptDefaultCertificate is true" in r.getMessage() and "cloudfront.net" in r.getMessage() for r in caplog.records
    )
    assert not any("requireOriginSecret" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        render_edge({"requireOriginSecret": "false"})
    assert any("requireOriginSecret is false" in r.getMessage() and "bypass" in r.getMessage() for r in caplog.records)


def test_real_settings_derive_the_hostname_from_the_suffix(edge_eu):
    assert edge_eu.outputs["usedSampleDomain"] is False
    assert edge_eu.outputs["siteHostname"] == "test.api.mycompany.io"
    assert edge_eu.one(DISTRIBUTION).inputs["aliases"] == ["test.api.mycompany.io"]


def test_explicit_domain_name_wins_over_parent_domain():
    rendered = render_edge({**REAL_DOMAIN, "domainName": "ML.MyCompany.io."})
    assert rendered.one(CERT).inputs["domainName"] == "ml.mycompany.io"
    assert rendered.outputs["siteHostname"] == "ml.mycompany.io"


def test_certificate_is_dns_validated_in_the_configured_zone(edge_eu):
    cert = edge_eu.one(CERT)
    assert cert.inputs["validationMethod"] == "DNS"
    (option,) = cert.state["domainValidationOptions"]
    record = next(r for r in edge_eu.of_type(RECORD) if r.inputs["type"] == "CNAME")
    assert record.inputs["zoneId"] == REAL_DOMAIN["hostedZoneId"]
    assert record.inputs["name"] == option["resourceRecordName"]
    assert record.inputs["records"] == [option["resourceRecordValue"]]
    validation = edge_eu.one(CERT_VALIDATION)
    assert validation.inputs["certificateArn"] == cert.state["arn"]
    assert validation.inputs["validationRecordFqdns"] == [record.state["fqdn"]]
    # The distribution takes the validated ARN (so it waits for the certificate to be issued).
    viewer = edge_eu.one(DISTRIBUTION).inputs["viewerCertificate"]
    assert viewer["acmCertificateArn"] == validation.state["certificateArn"] == edge_eu.outputs["certificateArn"]
    assert viewer["sslSupportMethod"] == "sni-only"
    assert viewer["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert "cloudfrontDefaultCertificate" not in viewer


def test_alias_records_point_the_domain_at_the_distribution(edge_eu):
    cdn = edge_eu.one(DISTRIBUTION)
    aliases = [r for r in edge_eu.of_type(RECORD) if r.inputs["type"] in ("A", "AAAA")]
    assert sorted(r.inputs["type"] for r in aliases) == ["A", "AAAA"]
    for record in aliases:
        assert record.inputs["name"] == "test.api.mycompany.io"
        assert record.inputs["zoneId"] == REAL_DOMAIN["hostedZoneId"]
        (alias,) = record.inputs["aliases"]
        assert alias["name"] == cdn.state["domainName"] and alias["zoneId"] == cdn.state["hostedZoneId"]
    assert cdn.inputs["isIpv6Enabled"] is True


def test_another_region_keeps_certificate_and_cloudfront_waf_in_us_east_1(edge_eu):
    global_parts = [
        edge_eu.one(CERT),
        edge_eu.one(CERT_VALIDATION),
        edge_eu.one(DISTRIBUTION),
        by_scope(edge_eu, "CLOUDFRONT"),
        next(g for g in edge_eu.of_type(LOG_GROUP) if "cloudfront" in g.inputs["name"]),
        next(c for c in edge_eu.of_type(WAF_LOGGING) if c.inputs["resourceArn"] == by_scope(edge_eu, "CLOUDFRONT").state["arn"]),
    ]
    for registration in global_parts:
        assert provider_region(edge_eu, registration) == "us-east-1", registration.name
    regional_parts = [
        by_scope(edge_eu, "REGIONAL"),
        next(g for g in edge_eu.of_type(LOG_GROUP) if "alb" in g.inputs["name"]),
        edge_eu.one(WAF_ASSOCIATION),
        edge_eu.one(BUCKET),
        edge_eu.one(INGRESS),
    ]
    for registration in regional_parts:
        assert provider_region(edge_eu, registration) == "eu-west-1", registration.name
    assert edge_eu.outputs["certificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert edge_eu.outputs["cloudfrontWebAclArn"].startswith("arn:aws:wafv2:us-east-1:")
    assert edge_eu.outputs["regionalWebAclArn"].startswith("arn:aws:wafv2:eu-west-1:")
    # Exactly two providers: the environment's and the one CloudFront requires.
    assert sorted(p.inputs["region"] for p in edge_eu.of_type(PROVIDER)) == ["eu-west-1", "us-east-1"]


def test_lookups_use_the_region_each_needs(monkeypatch):
    calls: list[tuple[str, str]] = []
    original = PlatformMocks.call

    def recording(self, args):
        calls.append((args.token.split(":")[-1], self.provider_regions.get(args.provider or "", self.region)))
        return original(self, args)

    monkeypatch.setattr(PlatformMocks, "call", recording)
    render_edge(REAL_DOMAIN, region="eu-west-1")
    assert ("getManagedPrefixList", "eu-west-1") in calls
    assert {region for token, region in calls if token in ("getCachePolicy", "getOriginRequestPolicy")} == {"us-east-1"}


# -- distribution ----------------------------------------------------------------------------


def test_http_origin_when_compute_has_no_certificate(edge):
    alb = next(o for o in edge.one(DISTRIBUTION).inputs["origins"] if "customOriginConfig" in o)
    assert alb["customOriginConfig"]["originProtocolPolicy"] == "http-only"
    assert alb["domainName"] == upstream_outputs("test", "us-east-1", "http")["organization/mlapi-compute/test"]["originHostname"]


def test_https_origin_uses_compute_origin_hostname_and_tls12(edge_eu):
    alb = next(o for o in edge_eu.one(DISTRIBUTION).inputs["origins"] if "customOriginConfig" in o)
    assert alb["domainName"] == "origin.test.mycompany.io"
    config = alb["customOriginConfig"]
    assert config["originProtocolPolicy"] == "https-only"
    assert config["originSslProtocols"] == ["TLSv1.2"]


def test_viewers_are_redirected_to_https_and_api_paths_are_not_cached(edge):
    cdn = edge.one(DISTRIBUTION).inputs
    default = cdn["defaultCacheBehavior"]
    assert default["targetOriginId"] == "alb"
    assert sorted(default["allowedMethods"]) == ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
    assert default["cachePolicyId"] == CACHING_DISABLED
    assert default["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    ordered = {b["pathPattern"]: b for b in cdn["orderedCacheBehaviors"]}
    for path in ("/api/*", "/health"):
        assert ordered[path]["targetOriginId"] == "alb"
        assert ordered[path]["cachePolicyId"] == CACHING_DISABLED
        assert ordered[path]["originRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
        assert "POST" in ordered[path]["allowedMethods"]
    for behaviour in [default, *cdn["orderedCacheBehaviors"]]:
        assert behaviour["viewerProtocolPolicy"] == "redirect-to-https"
        # CloudFront compresses only where the cache policy enables Gzip/Brotli: never under
        # CachingDisabled (every TTL 0), so compression is asked for only where it works.
        assert behaviour["compress"] is (behaviour["cachePolicyId"] == CACHING_OPTIMIZED)
    assert ordered["/errors/*"]["compress"] is True


def test_price_class_is_a_setting(edge):
    assert edge.one(DISTRIBUTION).inputs["priceClass"] == "PriceClass_100"
    assert render_edge({"priceClass": "PriceClass_All"}).one(DISTRIBUTION).inputs["priceClass"] == "PriceClass_All"


def test_unknown_origin_protocol_from_compute_is_refused():
    outputs = upstream_outputs("test", "us-east-1", "http")
    outputs["organization/mlapi-compute/test"]["originProtocol"] = "ftp"
    with pytest.raises(PlatformError, match="originProtocol is 'ftp'"):
        render_edge(outputs=outputs)


# -- error pages -----------------------------------------------------------------------------


def test_403_and_404_are_served_from_the_private_bucket(edge):
    cdn = edge.one(DISTRIBUTION).inputs
    responses = {r["errorCode"]: r for r in cdn["customErrorResponses"]}
    assert set(responses) == {403, 404}
    for code, response in responses.items():
        assert response["responsePagePath"] == f"/errors/{code}.html"
        assert response["responseCode"] == code
        # Not cached: the API behaviours' cache key has no Authorization header, so a cached 403
        # (or 404) of one caller would be served to every caller of that path.
        assert response["errorCachingMinTtl"] == 0
    errors = next(b for b in cdn["orderedCacheBehaviors"] if b["pathPattern"] == "/errors/*")
    origin = next(o for o in cdn["origins"] if o["originId"] == errors["targetOriginId"])
    bucket = edge.one(BUCKET)
    assert origin["domainName"] == bucket.state["bucketRegionalDomainName"]
    assert origin["originAccessControlId"] == edge.one(OAC).id
    assert edge.one(OAC).inputs["originAccessControlOriginType"] == "s3"
    assert edge.one(OAC).inputs["signingBehavior"] == "always"
    assert errors["cachePolicyId"] == CACHING_OPTIMIZED
    pages = {o.inputs["key"]: o for o in edge.of_type(OBJECT)}
    assert set(pages) == {"errors/403.html", "errors/404.html"}
    for key, page in pages.items():
        assert page.inputs["bucket"] == bucket.id
        assert page.inputs["contentType"].startswith("text/html")
        assert page.inputs["content"] == (EDGE_DIR / "error_pages" / Path(key).name).read_text()


def test_error_caching_ttl_is_a_setting():
    cdn = render_edge({"errorCachingMinTtl": "60"}).one(DISTRIBUTION).inputs
    assert {r["errorCachingMinTtl"] for r in cdn["customErrorResponses"]} == {60}


def test_error_page_bucket_is_private_encrypted_and_readable_only_by_this_distribution(edge):
    bucket = edge.one(BUCKET)
    assert bucket.inputs["bucket"] == f"mlapi-errors-test-{MOCK_ACCOUNT_ID}"
    assert bucket.inputs["forceDestroy"] is True
    block = edge.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    (rule,) = edge.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert (
        edge.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"]["objectOwnership"]
        == "BucketOwnerEnforced"
    )
    doc = policy(edge.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (statement,) = doc["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == ["s3:GetObject"]
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Resource"] == [f"{bucket.state['arn']}/errors/*"]
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceArn": edge.one(DISTRIBUTION).state["arn"]}}


def test_protect_keeps_the_error_page_bucket_on_destroy_and_waits_longest_to_delete_the_waf_log_keys():
    protected = render_edge({"protect": "true"})
    assert protected.one(BUCKET).inputs["forceDestroy"] is False
    assert [k.inputs["deletionWindowInDays"] for k in protected.of_type("aws:kms/key:Key")] == [30, 30]


def test_decommissioning_empties_the_error_page_bucket_on_destroy():
    assert render_edge({"protect": "true", "decommission": "true"}).one(BUCKET).inputs["forceDestroy"] is True


def test_bucket_name_fits_s3_with_the_longest_suffix():
    from shared.naming import Namer

    suffix = "a" * MAX_SUFFIX_LENGTH
    names: list[str] = []

    def program():
        bucket_name(Namer(suffix), MOCK_ACCOUNT_ID).apply(names.append)
        ErrorPages("errors", ErrorPagesArgs(namer=Namer(suffix), account_id=MOCK_ACCOUNT_ID, blocks_deletion=False))

    rendered = render_program(program, project="mlapi-edge", stack="t", region="us-east-1")
    (name,) = names
    assert len(name) <= 63 and suffix in name and MOCK_ACCOUNT_ID in name
    assert rendered.one(BUCKET).inputs["bucket"] == name


def test_every_name_fits_with_the_longest_suffix():
    suffix = "e" + "x" * (MAX_SUFFIX_LENGTH - 1)
    rendered = render_edge(env=suffix)
    bucket = rendered.one(BUCKET).inputs["bucket"]
    assert len(bucket) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", bucket), bucket
    assert len(rendered.one(CERT).inputs["domainName"]) <= 64
    for acl in rendered.of_type(WEB_ACL):
        assert suffix in acl.inputs["name"] and len(acl.inputs["name"]) <= 128
    for group in rendered.of_type(LOG_GROUP):
        assert group.inputs["name"].startswith("aws-waf-logs-") and group.inputs["name"].endswith(suffix)


# -- every argument is one the installed pulumi-aws (v7) knows -----------------------------------

_ARGS_DICT = re.compile(r"ForwardRef\('(\w+ArgsDict)'\)")
_SKIPPED_PARAMETERS = {"self", "resource_name", "opts", "__props__", "__self__"}


def unknown_arguments(token: str, inputs: dict[str, Any]) -> list[str]:
    """Input keys, at any depth, that the installed SDK does not declare for ``token``.

    The mock runtime accepts any key, and nested dicts are passed through untyped, so a v6 name
    (or a typo) in a nested block renders fine offline and fails only against AWS.
    """
    module_name = token.split(":")[1].split("/")[0]
    module = importlib.import_module(f"pulumi_aws.{module_name}")
    typed_dicts = importlib.import_module(f"pulumi_aws.{module_name}._inputs")
    resource = getattr(module, token.split(":")[2])
    parameters = inspect.signature(resource._internal_init).parameters
    problems: list[str] = []

    def check(path: str, value: dict[str, Any], fields: dict[str, Any]) -> None:
        for key, item in value.items():
            field = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
            if field not in fields:
                problems.append(f"{path}.{key}")
                continue
            nested = _ARGS_DICT.search(repr(fields[field]))
            if nested is None:
                continue  # a scalar, a list of scalars or a free-form map (tags)
            declared = getattr(typed_dicts, nested.group(1)).__annotations__
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, dict):
                    check(f"{path}.{key}", element, declared)

    check(token, inputs, {name: p.annotation for name, p in parameters.items() if name not in _SKIPPED_PARAMETERS})
    return problems


def test_every_input_is_an_argument_of_the_installed_pulumi_aws(edge, edge_eu, edge_default_cert):
    checked = set()
    for rendered in (edge, edge_eu, edge_default_cert):
        for registration in rendered.registrations:
            if registration.custom and registration.type.startswith("aws:"):
                assert unknown_arguments(registration.type, registration.inputs) == [], registration.name
                checked.add(registration.type)
    assert {DISTRIBUTION, WEB_ACL, WAF_LOGGING, CERT, RECORD, INGRESS, BUCKET} <= checked


def test_the_argument_check_catches_a_misnamed_nested_argument():
    # v6's name for a rule group's overrides, and a typo two levels down.
    rule = {"name": "common", "statement": {"managedRuleGroupStatement": {"name": "x", "vendorName": "AWS", "excludedRules": []}}}
    origin = {
        "originId": "alb",
        "domainName": "x",
        "customOriginConfig": {"originProtocolPolicy": "http-only", "originReadTimout": 60},
    }
    assert unknown_arguments(WEB_ACL, {"scope": "REGIONAL", "rules": [rule]}) == [
        f"{WEB_ACL}.rules.statement.managedRuleGroupStatement.excludedRules"
    ]
    assert unknown_arguments(DISTRIBUTION, {"origins": [origin], "webAclArn": "x"}) == [
        f"{DISTRIBUTION}.origins.customOriginConfig.originReadTimout",
        f"{DISTRIBUTION}.webAclArn",
    ]


# -- only CloudFront reaches the ALB -----------------------------------------------------------


def test_alb_accepts_only_cloudfront_origin_facing_addresses_on_the_origin_port(edge, edge_eu):
    for rendered, port in ((edge, 80), (edge_eu, 443)):
        rule = rendered.one(INGRESS).inputs
        assert rule["securityGroupId"] == ALB_SG
        assert rule["prefixListId"].startswith("pl-")
        assert "cidrIpv4" not in rule and "cidrIpv6" not in rule
        assert rule["ipProtocol"] == "tcp" and rule["fromPort"] == rule["toPort"] == port
        assert "CloudFront" in rule["description"]
    # The prefix list is looked up in the environment's region, so its id differs per region.
    assert edge.one(INGRESS).inputs["prefixListId"] != edge_eu.one(INGRESS).inputs["prefixListId"]


def test_the_ingress_rule_uses_cloudfronts_origin_facing_prefix_list(monkeypatch):
    answers: dict[str, dict[str, Any]] = {}
    original = PlatformMocks.call

    def recording(self, args):
        result = original(self, args)
        if args.token == "aws:ec2/getManagedPrefixList:getManagedPrefixList":
            answers[result["id"]] = dict(args.args or {})
        return result

    monkeypatch.setattr(PlatformMocks, "call", recording)
    rule = render_edge().one(INGRESS).inputs
    # The id on the rule is the one AWS returned for CloudFront's origin-facing list, nothing else.
    assert answers[rule["prefixListId"]]["name"] == "com.amazonaws.global.cloudfront.origin-facing"


# Security groups allow 60 inbound rules by default, and a rule that references a managed prefix
# list counts as that list's maximum number of entries: 55 for CloudFront's origin-facing list.
SG_INBOUND_RULES_QUOTA = 60
CLOUDFRONT_ORIGIN_FACING_MAX_ENTRIES = 55


def alb_inbound_rules(plan) -> list[dict[str, Any]]:
    """Inbound rules on the ALB's security group, from every layer of the environment."""
    sg = layer_of(plan, "network").outputs["albSecurityGroupId"]
    return [r.inputs for lp in plan.layers for r in lp.rendered.of_type(INGRESS) if r.inputs["securityGroupId"] == sg]


def alb_inbound_rule_weight(plan) -> int:
    """The ALB security group's inbound rules as AWS counts them against the quota."""
    rules = alb_inbound_rules(plan)
    assert any("prefixListId" in r for r in rules), "no CloudFront rule on the ALB security group"
    return sum(CLOUDFRONT_ORIGIN_FACING_MAX_ENTRIES if "prefixListId" in r else 1 for r in rules)


def test_by_default_nothing_but_cloudfront_reaches_the_alb(default_plan):
    (rule,) = alb_inbound_rules(default_plan)
    assert rule["prefixListId"] == layer_of(default_plan, "edge").one(INGRESS).inputs["prefixListId"]


def test_the_alb_security_group_has_room_for_the_cloudfront_rule(default_plan):
    # One prefix-list rule on one port: a second port would need 110 of the 60 rules.
    assert alb_inbound_rule_weight(default_plan) <= SG_INBOUND_RULES_QUOTA
    # Still true when the network layer also opens the listener to the internet.
    internet = plan_layers("edge", env="sgroom", config={"network": {"albIngressSource": "internet", "albListenerPorts": [80]}})
    assert alb_inbound_rule_weight(internet) == CLOUDFRONT_ORIGIN_FACING_MAX_ENTRIES + 1 <= SG_INBOUND_RULES_QUOTA


# -- WAF -------------------------------------------------------------------------------------


def _managed_groups(acl) -> set[str]:
    return {
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in acl.inputs["rules"]
        if "managedRuleGroupStatement" in r["statement"]
    }


def _rate_rules(acl) -> list[dict[str, Any]]:
    return [r for r in acl.inputs["rules"] if "rateBasedStatement" in r["statement"]]


def test_both_web_acls_carry_the_managed_groups_with_metrics_on_every_rule(edge):
    for scope in ("CLOUDFRONT", "REGIONAL"):
        acl = by_scope(edge, scope)
        assert acl.inputs["defaultAction"] == {"allow": {}}
        assert _managed_groups(acl) == MANAGED_GROUPS
        for rule in acl.inputs["rules"]:
            if "managedRuleGroupStatement" in rule["statement"]:
                # Managed groups keep their own actions (a "count" override would disarm them).
                assert rule["overrideAction"] == {"none": {}}, rule["name"]
        priorities = [r["priority"] for r in acl.inputs["rules"]]
        assert len(set(priorities)) == len(priorities)
        for visibility in [acl.inputs["visibilityConfig"], *(r["visibilityConfig"] for r in acl.inputs["rules"])]:
            assert visibility["cloudwatchMetricsEnabled"] is True and visibility["sampledRequestsEnabled"] is True
        metric_names = [r["visibilityConfig"]["metricName"] for r in acl.inputs["rules"]]
        assert len(set(metric_names)) == len(metric_names)
        assert "test" in acl.inputs["name"]


def test_the_per_ip_rate_limit_is_on_the_cloudfront_acl_where_client_addresses_are_seen(edge):
    (rate,) = _rate_rules(by_scope(edge, "CLOUDFRONT"))
    statement = rate["statement"]["rateBasedStatement"]
    assert statement["limit"] == 2000 and statement["aggregateKeyType"] == "IP"
    assert statement["evaluationWindowSec"] == 300
    assert rate["action"] == {"block": {}}
    assert rate["visibilityConfig"]["cloudwatchMetricsEnabled"] is True
    # Behind CloudFront the load balancer sees only CloudFront's edge addresses: a per-IP limit
    # there would block every client of a busy edge location together.
    assert _rate_rules(by_scope(edge, "REGIONAL")) == []


RANDOM_PASSWORD = "random:index/randomPassword:RandomPassword"


def _alb_origin(rendered) -> dict[str, Any]:
    return next(o for o in rendered.one(DISTRIBUTION).state["origins"] if o["originId"] == "alb")


def _secret_matches(rule: dict[str, Any]) -> list[dict[str, Any]]:
    accepted = rule["statement"]["notStatement"]["statement"]
    return [s["byteMatchStatement"] for s in accepted["orStatement"]["statements"]]


def _slots(rendered) -> dict[str, Any]:
    return {r.name.rsplit("-", 1)[-1]: r for r in rendered.of_type(RANDOM_PASSWORD)}


def test_only_our_distribution_gets_past_the_load_balancers_web_acl(edge):
    """CloudFront's origin-facing addresses are shared by every distribution of every account, so
    the ALB's ACL must block requests that lack our distribution's secret header."""
    first = min(by_scope(edge, "REGIONAL").state["rules"], key=lambda r: r["priority"])
    assert first["name"] == "require-origin-secret" and first["action"] == {"block": {}}
    matches = _secret_matches(first)
    for match in matches:
        assert match["fieldToMatch"] == {"singleHeader": {"name": "x-origin-verify"}}
        assert match["positionalConstraint"] == "EXACTLY"
        assert match["textTransformations"] == [{"priority": 0, "type": "NONE"}]
    (header,) = _alb_origin(edge)["customHeaders"]
    slots = _slots(edge)
    # Version 1 (odd) is sent; the ACL accepts it and the even slot's (the previous version's).
    assert header["name"] == "X-Origin-Verify"
    assert header["value"] == slots["odd"].state["result"]
    assert [m["searchString"] for m in matches] == [slots["odd"].state["result"], slots["even"].state["result"]]
    for password in slots.values():
        assert len(password.state["result"]) >= 32 and password.inputs["special"] is False
    # The CloudFront ACL sees viewers' requests, which never carry it.
    assert all("notStatement" not in r["statement"] for r in by_scope(edge, "CLOUDFRONT").state["rules"])


def test_the_origin_secret_stays_secret(edge):
    values = [p.state["result"] for p in edge.of_type(RANDOM_PASSWORD)]
    alb_origin = next(o for o in edge.one(DISTRIBUTION).inputs["origins"] if o["originId"] == "alb")
    assert alb_origin["customHeaders"] == [{"name": "X-Origin-Verify", "value": "[secret]"}]
    rule = next(r for r in by_scope(edge, "REGIONAL").inputs["rules"] if r["name"] == "require-origin-secret")
    assert [m["searchString"] for m in _secret_matches(rule)] == ["[secret]", "[secret]"]
    for value in values:
        assert value not in repr(edge.outputs) and value not in repr([r.inputs for r in edge.registrations])
    for config in edge.of_type(WAF_LOGGING):
        assert {"singleHeader": {"name": "x-origin-verify"}} in config.inputs["redactedFields"]
    # Logging's redaction does not reach sampled requests: each ACL protects the headers itself.
    for scope in ("CLOUDFRONT", "REGIONAL"):
        (protection,) = by_scope(edge, scope).inputs["dataProtectionConfig"]["dataProtections"]
        assert protection["action"] == "SUBSTITUTION" and protection["field"]["fieldType"] == "SINGLE_HEADER"
        assert {"x-origin-verify", "authorization", "cookie"} <= set(protection["field"]["fieldKeys"])


def test_a_stack_deployed_with_one_origin_secret_keeps_it_as_the_current_slot(aliases):
    # Before the two slots there was `origin-secret-value`, made for the current version: the
    # current slot takes it over (an alias), so upgrading does not rotate the secret.
    for version, current, other in (("3", "odd", "even"), ("4", "even", "odd")):
        render_edge({"originSecretVersion": version})
        assert "origin-secret-value" in aliases[f"origin-secret-{current}"]
        assert "origin-secret-value" not in aliases[f"origin-secret-{other}"]


def test_the_origin_secret_rotates_with_no_refused_request_and_can_be_switched_off(edge, waits):
    # A rotation to version 2 replaces only the even slot (keepers 0 -> 2); the odd slot, which
    # CloudFront keeps sending until its new configuration is deployed, is still accepted.
    keepers = {slot: p.inputs["keepers"] for slot, p in _slots(edge).items()}
    assert keepers == {"even": {"version": "0"}, "odd": {"version": "1"}}
    rotated = render_edge({"originSecretVersion": "2"})
    slots = _slots(rotated)
    assert {slot: p.inputs["keepers"] for slot, p in slots.items()} == {"even": {"version": "2"}, "odd": {"version": "1"}}
    assert _alb_origin(rotated)["customHeaders"][0]["value"] == slots["even"].state["result"]
    rule = next(r for r in by_scope(rotated, "REGIONAL").state["rules"] if r["name"] == "require-origin-secret")
    assert [m["searchString"] for m in _secret_matches(rule)] == [slots["even"].state["result"], slots["odd"].state["result"]]
    # The distribution changes only once the load balancer's ACL accepts the new value.
    assert "alb-waf-acl" in waits["edge-cdn"], waits["edge-cdn"]
    off = render_edge({"requireOriginSecret": "false"})
    assert off.of_type(RANDOM_PASSWORD) == []
    assert _alb_origin(off).get("customHeaders") in (None, [])
    assert all(r["name"] != "require-origin-secret" for r in by_scope(off, "REGIONAL").inputs["rules"])


def test_web_acls_are_attached_to_the_distribution_and_the_alb(edge):
    assert (
        edge.one(DISTRIBUTION).inputs["webAclId"]
        == by_scope(edge, "CLOUDFRONT").state["arn"]
        == edge.outputs["cloudfrontWebAclArn"]
    )
    association = edge.one(WAF_ASSOCIATION).inputs
    assert (
        association["resourceArn"] == upstream_outputs("test", "us-east-1", "http")["organization/mlapi-compute/test"]["albArn"]
    )
    assert association["webAclArn"] == by_scope(edge, "REGIONAL").state["arn"] == edge.outputs["regionalWebAclArn"]


def test_each_web_acl_logs_to_its_own_aws_waf_logs_group_for_30_days(edge):
    groups = {g.state["arn"]: g for g in edge.of_type(LOG_GROUP)}
    configs = edge.of_type(WAF_LOGGING)
    assert len(configs) == 2
    assert {c.inputs["resourceArn"] for c in configs} == {a.state["arn"] for a in edge.of_type(WEB_ACL)}
    for config in configs:
        (destination,) = config.inputs["logDestinationConfigs"]
        group = groups[destination].inputs
        assert group["name"].startswith("aws-waf-logs-") and group["name"].endswith("-test")
        assert group["retentionInDays"] == 30
        assert {"singleHeader": {"name": "authorization"}} in config.inputs["redactedFields"]
    assert {edge.outputs["cloudfrontWafLogGroupName"], edge.outputs["regionalWafLogGroupName"]} == {
        g.inputs["name"] for g in groups.values()
    }


def test_rate_limit_and_count_only_rules_are_settings():
    rendered = render_edge({"rateLimit": "500", "wafCountOnlyRules": "[]"})
    (rate,) = _rate_rules(by_scope(rendered, "CLOUDFRONT"))
    assert rate["statement"]["rateBasedStatement"]["limit"] == 500
    for acl in rendered.of_type(WEB_ACL):
        common = next(
            r
            for r in acl.inputs["rules"]
            if r["statement"].get("managedRuleGroupStatement", {}).get("name") == "AWSManagedRulesCommonRuleSet"
        )
        assert "ruleActionOverrides" not in common["statement"]["managedRuleGroupStatement"]


def test_large_model_inputs_are_counted_not_blocked_by_default(edge):
    for acl in edge.of_type(WEB_ACL):
        common = next(
            r
            for r in acl.inputs["rules"]
            if r["statement"].get("managedRuleGroupStatement", {}).get("name") == "AWSManagedRulesCommonRuleSet"
        )
        overrides = common["statement"]["managedRuleGroupStatement"]["ruleActionOverrides"]
        assert overrides == [{"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}], acl.inputs["scope"]


# -- CloudFront's default certificate, explicitly accepted -------------------------------------


def test_accepting_the_default_certificate_drops_certificate_and_dns_and_says_so(edge_default_cert):
    r = edge_default_cert
    assert not r.of_type(CERT) and not r.of_type(CERT_VALIDATION) and not r.of_type(RECORD)
    cdn = r.one(DISTRIBUTION)
    assert cdn.inputs["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert not cdn.inputs.get("aliases")
    assert r.outputs["certificateMode"] == CERT_DEFAULT
    assert r.outputs["usedSampleDomain"] is False
    assert r.outputs["certificateArn"] == ""
    assert r.outputs["siteHostname"] == cdn.state["domainName"] == r.outputs["distributionDomainName"]
    assert r.outputs["distributionUrl"] == f"https://{cdn.state['domainName']}"
    # Still behind both web ACLs.
    assert cdn.inputs["webAclId"] == by_scope(r, "CLOUDFRONT").state["arn"]


# -- settings: bad input and the real-run refusal -----------------------------------------------


def load(values: dict[str, Any], *, offline: bool | None = None, defaults: bool = True) -> EdgeSettings:
    """The loader on its own, as a real run calls it (not under the offline plan unless ``offline``)."""
    raw = {"parentDomain": SAMPLE_PARENT_DOMAIN, "hostedZoneId": SAMPLE_HOSTED_ZONE_ID} if defaults else {}
    raw.update({k: str(v) for k, v in values.items()})
    reader = ConfigReader("mlapi-edge", raw.get)
    env = EnvironmentSettings.load(
        "edge", reader, project="mlapi-edge", stack="pr-7", aws_lookup={"region": "eu-west-1"}.get, environ={}
    )
    return EdgeSettings.load(reader, env=env, offline=offline)


def test_a_real_run_refuses_the_sample_settings_naming_what_to_give():
    with pytest.raises(ConfigError) as failure:
        load({})  # offline defaults to shared.runtime.is_offline_plan(): False outside the plan
    message = str(failure.value)
    assert "mlapi-edge:parentDomain" in message and "mlapi-edge:hostedZoneId" in message
    assert "documentation samples" in message
    assert "pulumi config set mlapi-edge:acceptDefaultCertificate true" in message


def test_a_real_run_refuses_a_sample_zone_even_with_a_real_domain():
    with pytest.raises(ConfigError, match=r"Invalid setting mlapi-edge:hostedZoneId = 'Z00SAMPLE0HOSTEDZONE'"):
        load({"parentDomain": "api.mycompany.io"})
    with pytest.raises(ConfigError, match=r"mlapi-edge:domainName = 'api.example.org'"):
        load({"domainName": "api.example.org", "hostedZoneId": "Z0123456789ABCDEFGHIJ"})


def test_a_real_run_refuses_missing_domain_settings():
    # Unset (or emptied) settings fall back to the samples, so they are refused the same way.
    with pytest.raises(ConfigError, match=r"Invalid setting mlapi-edge:parentDomain and mlapi-edge:hostedZoneId = "):
        load({}, defaults=False)
    with pytest.raises(
        ConfigError, match=r"Invalid setting mlapi-edge:hostedZoneId = 'Z00SAMPLE0HOSTEDZONE'.*hostedZoneId <zone id>"
    ):
        load({"parentDomain": "api.mycompany.io", "hostedZoneId": ""})


def test_a_real_run_accepts_real_settings_and_the_explicit_default_certificate():
    real = load(REAL_DOMAIN)
    assert (real.site_hostname, real.hosted_zone_id, real.used_sample_domain) == (
        "pr-7.api.mycompany.io",
        "Z0123456789ABCDEFGHIJ",
        False,
    )
    default = load({"acceptDefaultCertificate": "true"})
    assert default.certificate_mode == CERT_DEFAULT and default.site_hostname is None


def test_the_offline_plan_accepts_the_samples_and_flags_them():
    settings = load({}, offline=True)
    assert settings.used_sample_domain and settings.site_hostname == f"pr-7.{SAMPLE_PARENT_DOMAIN}"


@pytest.mark.parametrize(
    "values,setting,shown",
    [
        ({"parentDomain": "not_a_domain"}, "mlapi-edge:parentDomain", "not_a_domain"),
        ({"domainName": "api..mycompany.io"}, "mlapi-edge:domainName", "api..mycompany.io"),
        ({"domainName": "-api.mycompany.io"}, "mlapi-edge:domainName", "-api.mycompany.io"),
        ({"hostedZoneId": "/hostedzone/Z0123456789ABCDEFGHIJ"}, "mlapi-edge:hostedZoneId", "/hostedzone/"),
        ({"hostedZoneId": "z0123abc"}, "mlapi-edge:hostedZoneId", "z0123abc"),
        ({"rateLimit": "9"}, "mlapi-edge:rateLimit", "from 10 to 2000000000"),
        ({"rateLimit": "2000000001"}, "mlapi-edge:rateLimit", "from 10 to 2000000000"),
        ({"rateLimit": "lots"}, "mlapi-edge:rateLimit", "a whole number"),
        ({"priceClass": "PriceClass_50"}, "mlapi-edge:priceClass", "PriceClass_100, PriceClass_200, PriceClass_All"),
        ({"wafCountOnlyRules": "NoSuchRule"}, "mlapi-edge:wafCountOnlyRules", "AWSManagedRulesCommonRuleSet"),
        ({"wafLogRetentionDays": "10"}, "mlapi-edge:wafLogRetentionDays", "retention periods"),
        ({"errorCachingMinTtl": "-1"}, "mlapi-edge:errorCachingMinTtl", "from 0"),
        ({"acceptDefaultCertificate": "maybe"}, "mlapi-edge:acceptDefaultCertificate", "true or false"),
        ({"originSecretVersion": "0"}, "mlapi-edge:originSecretVersion", "from 1 to 1000000"),
        ({"requireOriginSecret": "maybe"}, "mlapi-edge:requireOriginSecret", "true or false"),
        # Set together, the domain would be silently ignored: refused.
        (
            {"acceptDefaultCertificate": "true", "domainName": "api.mycompany.io"},
            "mlapi-edge:domainName",
            "acceptDefaultCertificate",
        ),
        # ACM refuses a certificate domain longer than 64 characters.
        ({"domainName": ("a" * 30 + ".") * 2 + "mycompany.io"}, "mlapi-edge:domainName", "at most 64 characters"),
    ],
)
def test_bad_settings_fail_with_the_setting_the_value_and_what_is_allowed(values, setting, shown):
    with pytest.raises(ConfigError) as failure:
        load({**REAL_DOMAIN, **values}, offline=True)
    message = str(failure.value)
    assert message.startswith(f"Invalid setting {setting}"), message
    assert shown in message


def registered_before_failure(monkeypatch, config: dict[str, Any], *, real_run: bool = False) -> tuple[ConfigError, list[str]]:
    """Run the real program until it fails; return the error and every resource, provider or stack
    reference it had registered (or read) by then."""
    seen: list[str] = []
    original = PlatformMocks.new_resource

    def recording(self, args):
        seen.append(args.typ)
        return original(self, args)

    monkeypatch.setattr(PlatformMocks, "new_resource", recording)
    if real_run:
        # What a real `pulumi up` sees: not the offline plan (the module the program imports).
        monkeypatch.setattr("mlapi_edge.settings.is_offline_plan", lambda: False)
    with pytest.raises(ConfigError) as failure:
        render_edge(config)
    return failure.value, seen


def test_bad_settings_stop_the_program_before_any_resource(monkeypatch):
    error, seen = registered_before_failure(monkeypatch, {"rateLimit": "5"})
    assert error.setting == "mlapi-edge:rateLimit" and "from 10 to 2000000000" in str(error)
    assert seen == []


def test_a_real_run_of_the_program_refuses_the_samples_before_touching_anything(monkeypatch):
    error, seen = registered_before_failure(monkeypatch, {}, real_run=True)
    assert "mlapi-edge:parentDomain" in error.setting and "mlapi-edge:hostedZoneId" in error.setting
    assert "pulumi config set mlapi-edge:hostedZoneId" in str(error)
    # Not even a provider or a StackReference: nothing is read from or written to AWS.
    assert seen == []
    # The same program with real settings goes ahead (so the refusal above is about the samples).
    monkeypatch.undo()
    monkeypatch.setattr("mlapi_edge.settings.is_offline_plan", lambda: False)
    assert render_edge(REAL_DOMAIN).outputs["usedSampleDomain"] is False


# -- the whole environment, through the real upstream programs ----------------------------------


def test_offline_plan_renders_every_layer_with_edge_wired_to_its_upstreams(default_plan):
    assert {lp.layer.name for lp in default_plan.layers} >= {"network", "data", "compute", "edge"}
    network, compute, edge = (layer_of(default_plan, name) for name in ("network", "compute", "edge"))
    assert sorted(edge.stack_references) == ["organization/mlapi-compute/demo", "organization/mlapi-network/demo"]
    assert edge.one(INGRESS).inputs["securityGroupId"] == network.outputs["albSecurityGroupId"]
    assert edge.one(WAF_ASSOCIATION).inputs["resourceArn"] == compute.outputs["albArn"]
    alb = next(o for o in edge.one(DISTRIBUTION).inputs["origins"] if "customOriginConfig" in o)
    assert alb["domainName"] == compute.outputs["originHostname"]
    expected = {"https": ("https-only", 443), "http": ("http-only", 80)}[compute.outputs["originProtocol"]]
    assert (alb["customOriginConfig"]["originProtocolPolicy"], edge.one(INGRESS).inputs["fromPort"]) == expected
    assert edge.outputs["usedSampleDomain"] is True and edge.outputs["siteHostname"] == f"demo.{SAMPLE_PARENT_DOMAIN}"


def test_plan_in_another_region_with_an_https_origin():
    plan = plan_layers(
        "edge",
        env="edgeeu",
        region="eu-west-1",
        config={"compute": {"albDomainName": "origin.mycompany.io", "hostedZoneId": "Z0123456789ABCDEFGHIJ"}},
    )
    compute, edge = layer_of(plan, "compute"), layer_of(plan, "edge")
    assert compute.outputs["originProtocol"] == "https"
    alb = next(o for o in edge.one(DISTRIBUTION).inputs["origins"] if "customOriginConfig" in o)
    assert alb["domainName"] == "origin.mycompany.io"
    assert alb["customOriginConfig"]["originProtocolPolicy"] == "https-only"
    assert edge.one(INGRESS).inputs["fromPort"] == edge.one(INGRESS).inputs["toPort"] == 443
    for registration in (edge.one(CERT), by_scope(edge, "CLOUDFRONT"), edge.one(DISTRIBUTION)):
        assert provider_region(edge, registration) == "us-east-1"
    for registration in (by_scope(edge, "REGIONAL"), edge.one(INGRESS), edge.one(BUCKET)):
        assert provider_region(edge, registration) == "eu-west-1"


def test_waf_logs_are_encrypted_with_a_rotating_key_in_their_own_region(edge_eu):
    keys = {k.state["arn"]: k for k in edge_eu.of_type("aws:kms/key:Key")}
    for group in edge_eu.of_type(LOG_GROUP):
        key = keys[group.inputs["kmsKeyId"]]
        assert key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 7
        region = provider_region(edge_eu, group)
        assert provider_region(edge_eu, key) == region == ("us-east-1" if "cloudfront" in group.inputs["name"] else "eu-west-1")
        logs = next(s for s in policy(key.inputs["policy"])["Statement"] if s.get("Sid") == "CloudWatchLogsUseKey")
        assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
        assert logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == group.state["arn"]


def test_domain_records_take_over_the_validation_record_and_never_evaluate_cloudfront_health(edge_eu):
    records = edge_eu.of_type(RECORD)
    (validation,) = [r.inputs for r in records if r.inputs["type"] == "CNAME"]
    # A re-created environment's certificate reuses the record ACM asked for last time: take it over.
    assert validation["allowOverwrite"] is True
    aliases = [alias for r in records if r.inputs["type"] in ("A", "AAAA") for alias in r.inputs["aliases"]]
    # Route 53 cannot evaluate the health of a CloudFront alias target (it refuses true).
    assert len(aliases) == 2 and all(alias["evaluateTargetHealth"] is False for alias in aliases)
