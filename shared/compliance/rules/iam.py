"""IAM: named actions and resources, distinct task roles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ...aws_types import (
    IAM_GROUP_POLICY,
    IAM_GROUP_POLICY_ATTACHMENT,
    IAM_POLICY,
    IAM_POLICY_ATTACHMENT,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_ROLE_POLICY_ATTACHMENT,
    IAM_USER_POLICY,
    IAM_USER_POLICY_ATTACHMENT,
    TASK_DEFINITION,
)
from ..model import (
    SECRET,
    Environment,
    Finding,
    Resource,
    View,
    as_list,
    get,
    is_mapping,
    parse_json,
    referenced,
    refers,
    text,
)
from ..registry import Scope, rule

# Actions AWS documents as having no resource type: "*" is the only Resource they accept.
RESOURCE_STAR_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",  # a registry-wide token
        # ECS Exec: the Session Manager message channels.
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
        "cloudwatch:PutMetricData",  # scoped with a cloudwatch:namespace condition, not a resource
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "sts:GetCallerIdentity",
        # Elastic Load Balancing's reads (CodeDeploy's blue/green traffic shifting needs them).
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    }
)
# Listing actions that IAM authorizes against an account-level pseudo-ARN rather than one resource
# (logs:DescribeLogGroups is checked on "arn:aws:logs:<region>:<account>:log-group::log-stream:"), so
# the narrowest Resource that works is every resource of the type in one account and region - never "*".
ACCOUNT_LEVEL_LIST_ACTIONS = {
    "logs:DescribeLogGroups": re.compile(r"^arn:aws[a-z-]*:logs:[a-z0-9-]+:\d{12}:log-group:\*$"),
}
IDENTITY_POLICY_TYPES = (IAM_POLICY, IAM_ROLE_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY, IAM_ROLE)
POLICY_ATTACHMENT_TYPES = (
    IAM_ROLE_POLICY_ATTACHMENT,
    IAM_USER_POLICY_ATTACHMENT,
    IAM_GROUP_POLICY_ATTACHMENT,
    IAM_POLICY_ATTACHMENT,
)
# AWS managed policies: their documents are not in the plan, but these are known to break the rules.
AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
# '*' / NotAction / 'service:*' (every *FullAccess policy grants service:* on '*').
AWS_MANAGED_WILDCARD_ACTIONS = re.compile(r"^(AdministratorAccess|PowerUserAccess|.*FullAccess(?:-v\d+)?)$")
# Resource '*' for actions that have resource types (besides the wildcard-action ones above).
AWS_MANAGED_WILDCARD_RESOURCE = {
    "AmazonECSTaskExecutionRolePolicy": "ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, logs:CreateLogStream and "
    "logs:PutLogEvents on every repository and log group",
    "ReadOnlyAccess": "read access to every resource of every service",
    "ViewOnlyAccess": "list/describe access to every resource of many services",
    "AmazonEC2ContainerRegistryReadOnly": "image pulls from every repository",
}
# A Resource ARN naming every resource of a type ("arn:aws:dynamodb:...:table/*", "...:secret:*") is '*' in disguise.
# (S3 ARNs carry no resource type: "arn:aws:s3:::bucket/*" is every object of one bucket, which is fine.)
EVERY_RESOURCE_OF_A_TYPE = re.compile(
    r"^arn:aws[a-z-]*:(?!s3:)[a-z0-9-]+:[^:]*:[^:]*:[A-Za-z0-9-]+[:/]\*$|^arn:aws[a-z-]*:[a-z0-9-]+:[^:]*:[^:]*:\*$"
)


def _identity_policies(res: Resource) -> Iterator[tuple[str, Any]]:
    """(label, parsed document) of each identity policy a resource carries."""
    if res.type == IAM_ROLE:
        for policy in as_list(res.get("inlinePolicies")):
            yield f"inline policy {get(policy, 'name', '?')}", parse_json(get(policy, "policy"))
    else:
        yield "policy", parse_json(res.get("policy"))


def _allow_statements(res: Resource) -> Iterator[tuple[str, Any]]:
    for label, doc in _identity_policies(res):
        if doc is None and res.type != IAM_ROLE and res.get("policy") == SECRET:
            yield label, {"Sid": "(secret policy: cannot be read)", "Effect": "Allow"}
            continue
        if not is_mapping(doc):
            continue
        for statement in as_list(doc.get("Statement")):
            if is_mapping(statement) and statement.get("Effect", "Allow") == "Allow":
                yield label, statement


def _sid(statement: Any) -> str:
    return repr(statement.get("Sid", "(no Sid)"))


def _managed_policies(res: Resource) -> Iterator[tuple[str, str]]:
    """(ARN, name) of each AWS managed policy a resource attaches."""
    if res.type == IAM_ROLE:
        arns = as_list(res.get("managedPolicyArns"))
    elif res.type in POLICY_ATTACHMENT_TYPES:
        arns = [res.get("policyArn")]
    else:
        arns = []
    for arn in arns:
        match = AWS_MANAGED_POLICY.match(text(arn))
        if match:
            yield text(arn), match.group(1)


@rule(
    "iam-no-wildcard-actions",
    title="IAM policies grant named actions, never '*' or 'service:*'",
    controls=("FSBP IAM.1", "FSBP IAM.21"),
    fix="List the actions the principal needs (for ECS Exec: the four ssmmessages:*Channel actions, not ssmmessages:*) "
    "in a policy of your own instead of attaching AdministratorAccess, PowerUserAccess or a *FullAccess policy.",
    types=(*IDENTITY_POLICY_TYPES, *POLICY_ATTACHMENT_TYPES),
)
def iam_no_wildcard_actions(res: Resource, env: Environment) -> Iterator[str]:
    for _arn, name in _managed_policies(res):
        if AWS_MANAGED_WILDCARD_ACTIONS.match(name):
            yield f"attaches the AWS managed policy {name}, which allows '*', NotAction or 'service:*'"
    for label, statement in _allow_statements(res):
        if "NotAction" in statement:
            yield f"{label} statement {_sid(statement)} allows NotAction (everything except a list)"
        wild = [a for a in as_list(statement.get("Action")) if isinstance(a, str) and (a == "*" or a.endswith(":*"))]
        if wild:
            yield f"{label} statement {_sid(statement)} allows {', '.join(wild)}"


@rule(
    "iam-no-wildcard-resource",
    title="IAM policies name resource ARNs; Resource '*' only for actions that have no resource type",
    controls=("FSBP IAM.1", "FSBP KMS.1", "FSBP KMS.2"),
    fix="Use the ARNs (from resource outputs or StackReferences) in Resource; '*' is accepted only for "
    + ", ".join(sorted(RESOURCE_STAR_ACTIONS))
    + ". KMS key policies are exempt: there '*' means 'this key'. Instead of an AWS managed policy such as "
    "AmazonECSTaskExecutionRolePolicy, write the few statements the role needs with the repository and log group ARNs.",
    types=(*IDENTITY_POLICY_TYPES, *POLICY_ATTACHMENT_TYPES),
)
def iam_no_wildcard_resource(res: Resource, env: Environment) -> Iterator[str]:
    for _arn, name in _managed_policies(res):
        if name in AWS_MANAGED_WILDCARD_RESOURCE:
            yield f"attaches the AWS managed policy {name}: {AWS_MANAGED_WILDCARD_RESOURCE[name]} (Resource '*')"
    for label, statement in _allow_statements(res):
        resources = [r for r in as_list(statement.get("Resource")) if isinstance(r, str)]
        if "NotResource" in statement:
            yield f"{label} statement {_sid(statement)} uses NotResource"
        wildcards = [r for r in resources if r == "*" or EVERY_RESOURCE_OF_A_TYPE.match(r)]
        if not wildcards:
            continue
        actions = [a for a in as_list(statement.get("Action")) if isinstance(a, str)]
        needing_arns = [
            a
            for a in actions
            if a not in RESOURCE_STAR_ACTIONS
            and not (a in ACCOUNT_LEVEL_LIST_ACTIONS and all(ACCOUNT_LEVEL_LIST_ACTIONS[a].match(w) for w in wildcards))
        ]
        if needing_arns:
            shown = "'*'" if "*" in wildcards else ", ".join(repr(w) for w in wildcards) + " (every resource of the type)"
            yield f"{label} statement {_sid(statement)} grants {', '.join(needing_arns)} on Resource {shown}"


EXECUTION_POLICY = "AmazonECSTaskExecutionRolePolicy"


@rule(
    "ecs-distinct-task-roles",
    title="Task execution role and task role are different roles",
    controls=("CKV_AWS_249",),
    fix="Create two roles: the execution role (pull image, write logs, read the task's secrets) and the task "
    "role (what the application itself calls); never attach AmazonECSTaskExecutionRolePolicy to the task role.",
    scope=Scope.STACK,
    pack_note="Judged within the stack that declares the task definition and its roles.",
)
def ecs_distinct_roles(view: View, env: Environment) -> Iterator[Finding]:
    for task in view.of_type(TASK_DEFINITION):
        task_role, execution_role = text(task.get("taskRoleArn")), text(task.get("executionRoleArn"))
        if not task_role:
            continue  # the containers get no AWS credentials at all
        if task_role == execution_role:
            yield Finding(task, "taskRoleArn and executionRoleArn are the same role: the application can do what the agent can")
            continue
        task_roles = referenced(view, task, "taskRoleArn", IAM_ROLE)
        execution_roles = referenced(view, task, "executionRoleArn", IAM_ROLE)
        if {r.urn for r in task_roles} & {r.urn for r in execution_roles}:
            yield Finding(task, "taskRoleArn and executionRoleArn resolve to the same role")
        for role in task_roles:
            attached = [a for a in view.of_type(IAM_ROLE_POLICY_ATTACHMENT) if refers(a, "role", role)]
            arns = [text(a.get("policyArn")) for a in attached] + [text(p) for p in as_list(role.get("managedPolicyArns"))]
            if any(arn.endswith(EXECUTION_POLICY) for arn in arns):
                yield Finding(role, f"the task role has {EXECUTION_POLICY} attached")
