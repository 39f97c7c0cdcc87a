"""WAF web ACL rules both entrances use: the ML API's (edge layer) and the payments load balancer's.

One definition of the AWS managed rule groups, the per-IP rate limit and the required-header
check, so the two web ACLs cannot drift apart. Where each rule belongs (the rate limit only where
the ACL sees client addresses, the header check only on a load balancer behind our distribution)
is the caller's choice, explained where the ACLs are declared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

# (rule name, managed rule group) in evaluation order. IP reputation first: it is the cheapest
# and drops known-bad sources before the heavier inspections. Together with the rate rule these
# use about 930 of the 1,500 WCUs a web ACL gets without extra charge.
MANAGED_RULE_GROUPS = (
    ("ip-reputation", "AWSManagedRulesAmazonIpReputationList"),
    ("common", "AWSManagedRulesCommonRuleSet"),
    ("known-bad-inputs", "AWSManagedRulesKnownBadInputsRuleSet"),
)
RATE_RULE = "rate-limit-per-ip"
RATE_WINDOW_SECONDS = 300
ORIGIN_SECRET_RULE = "require-origin-secret"
# Headers that carry credentials or session ids: kept out of every ACL's logs.
CREDENTIAL_HEADERS = ("authorization", "cookie")


@dataclass(frozen=True)
class RequiredHeader:
    """A header every request must carry with exactly one of these values (WAF compares header
    names case-insensitively, so the name is given in lowercase). Two values: the current and the
    previous one of a rotating secret, so a sender still on the previous one is not refused."""

    name: str
    values: Sequence[pulumi.Input[str]]


def data_protection(headers: Sequence[str]) -> dict[str, Any]:
    """A web ACL's data protection: these headers' values replaced by REDACTED everywhere the ACL
    shows requests. A logging configuration's redacted fields cover its logs only; sampled requests
    (the console, GetSampledRequests) would show credentials and the origin secret in clear."""
    return {
        "data_protections": [{"field": {"field_type": "SINGLE_HEADER", "field_keys": list(headers)}, "action": "SUBSTITUTION"}]
    }


def visibility(metric_name: str) -> dict[str, Any]:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric_name, "sampled_requests_enabled": True}


def origin_secret_rule(acl_name: str, header: RequiredHeader, priority: int) -> dict[str, Any]:
    """Block any request whose ``header`` is missing or equals none of its values."""
    if not header.values:
        raise ValueError(f"required header {header.name!r} has no value to require")
    matches = [
        {
            "byte_match_statement": {
                "field_to_match": {"single_header": {"name": header.name.lower()}},
                "positional_constraint": "EXACTLY",
                "search_string": value,
                "text_transformations": [{"priority": 0, "type": "NONE"}],
            }
        }
        for value in header.values
    ]
    accepted = matches[0] if len(matches) == 1 else {"or_statement": {"statements": matches}}
    return {
        "name": ORIGIN_SECRET_RULE,
        "priority": priority,
        "action": {"block": {}},
        "statement": {"not_statement": {"statement": accepted}},
        "visibility_config": visibility(f"{acl_name}-{ORIGIN_SECRET_RULE}"),
    }


def rules(
    acl_name: str,
    rate_limit: int | None,
    count_only_rules: Sequence[str],
    required_header: RequiredHeader | None = None,
) -> list[dict[str, Any]]:
    """The rules of a web ACL named ``acl_name``: the required-header check first (cheap, and it
    spares the heavier inspections for requests that did not come through our distribution), then
    the managed groups, then, unless ``rate_limit`` is None, the per-IP rate limit; each with its
    own metric."""
    built: list[dict[str, Any]] = []
    if required_header is not None:
        built.append(origin_secret_rule(acl_name, required_header, 0))
    for rule, group in MANAGED_RULE_GROUPS:
        statement: dict[str, Any] = {"name": group, "vendor_name": "AWS"}
        if group == "AWSManagedRulesCommonRuleSet" and count_only_rules:
            statement["rule_action_overrides"] = [{"name": r, "action_to_use": {"count": {}}} for r in count_only_rules]
        built.append(
            {
                "name": rule,
                "priority": len(built),
                "override_action": {"none": {}},
                "statement": {"managed_rule_group_statement": statement},
                "visibility_config": visibility(f"{acl_name}-{rule}"),
            }
        )
    if rate_limit is None:
        return built
    built.append(
        {
            "name": RATE_RULE,
            "priority": len(built),
            "action": {"block": {}},
            "statement": {
                "rate_based_statement": {
                    "limit": rate_limit,
                    "aggregate_key_type": "IP",
                    "evaluation_window_sec": RATE_WINDOW_SECONDS,
                }
            },
            "visibility_config": visibility(f"{acl_name}-{RATE_RULE}"),
        }
    )
    return built
