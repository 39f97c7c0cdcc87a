"""IAM rules: wildcard actions and resources, managed policies, task roles."""

from __future__ import annotations

from shared.aws_types import (
    IAM_ROLE_POLICY,
    KMS_KEY,
    TASK_DEFINITION,
)

from .support import (
    ACCOUNT,
    fragment,
    policy_json,
    res,
    violations,
)


def test_ssm_messages_wildcard_action_is_refused_but_the_channel_actions_are_accepted_on_star():
    channels = [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
    ]
    good = res(IAM_ROLE_POLICY, "p", {"policy": policy_json({"Effect": "Allow", "Action": channels, "Resource": "*"})})
    bad = res(IAM_ROLE_POLICY, "p", {"policy": policy_json({"Effect": "Allow", "Action": "ssmmessages:*", "Resource": "*"})})
    assert violations("iam-no-wildcard-actions", fragment(good)) == violations("iam-no-wildcard-resource", fragment(good)) == []
    assert violations("iam-no-wildcard-actions", fragment(bad))
    assert violations("iam-no-wildcard-resource", fragment(bad))


def test_role_inline_policies_are_checked_and_key_policies_are_exempt_from_resource_star():
    role = res(
        "aws:iam/role:Role",
        "r",
        {"inlinePolicies": [{"name": "x", "policy": policy_json({"Effect": "Allow", "Action": "*", "Resource": "*"})}]},
    )
    assert any("allows *" in m for m in violations("iam-no-wildcard-actions", fragment(role)))
    key = res(
        KMS_KEY,
        "k",
        {
            "enableKeyRotation": True,
            "policy": policy_json({"Effect": "Allow", "Principal": {"AWS": "arn:root"}, "Action": "kms:*", "Resource": "*"}),
        },
    )
    assert violations("iam-no-wildcard-resource", fragment(key)) == []


def test_task_role_carrying_the_execution_policy_is_flagged():
    task = res(TASK_DEFINITION, "td", {"taskRoleArn": "arn:role/task", "executionRoleArn": "arn:role/exec"}, layer="compute")
    role = res("aws:iam/role:Role", "task-role", {"name": "mlapi-task-demo"}, layer="compute", state={"arn": "arn:role/task"})
    attachment = res(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "att",
        {"role": "mlapi-task-demo", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"},
        layer="compute",
    )
    assert violations("ecs-distinct-task-roles", fragment(task, role, attachment)) == [
        "the task role has AmazonECSTaskExecutionRolePolicy attached"
    ]


def test_attached_aws_managed_policies_that_grant_wildcards_are_flagged():
    attach = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    admin = res(attach, "a", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    s3_full = res("aws:iam/role:Role", "r", {"managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]})
    execution = res(
        attach, "e", {"role": "r", "policyArn": "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"}
    )
    own = res(attach, "o", {"role": "r", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/AdministratorAccess"})  # a customer policy
    assert "AdministratorAccess" in violations("iam-no-wildcard-actions", fragment(admin))[0]
    assert "AmazonS3FullAccess" in violations("iam-no-wildcard-actions", fragment(s3_full))[0]
    assert violations("iam-no-wildcard-actions", fragment(execution)) == []
    assert "AmazonECSTaskExecutionRolePolicy" in violations("iam-no-wildcard-resource", fragment(execution))[0]
    assert violations("iam-no-wildcard-actions", fragment(own)) == violations("iam-no-wildcard-resource", fragment(own)) == []


def test_a_resource_arn_naming_every_resource_of_a_type_is_resource_star():
    def grant(*arns: str) -> dict:
        return fragment(
            res(
                IAM_ROLE_POLICY,
                "p",
                {
                    "policy": policy_json(
                        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "s3:GetObject"], "Resource": list(arns)}
                    )
                },
            )
        )

    (message,) = violations("iam-no-wildcard-resource", grant(f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/*"))
    assert "every resource of the type" in message
    assert violations("iam-no-wildcard-resource", grant("arn:aws:kms:*:*:key/*", "arn:aws:s3:::*"))
    # One table's indexes, one bucket's objects, one log group's streams: named resources.
    assert (
        violations(
            "iam-no-wildcard-resource",
            grant(
                f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t/index/*",
                "arn:aws:s3:::bucket/*",
                f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/mlapi/demo/api:log-stream:*",
            ),
        )
        == []
    )


def test_describe_log_groups_may_name_every_log_group_of_one_account_and_region_only():
    """IAM checks logs:DescribeLogGroups against an account-level ARN, so log-group:* scoped to the
    account and region is accepted for it - and for nothing else, and never as '*' or across regions."""

    def grant(actions: list, resource: str) -> dict:
        return fragment(
            res(
                IAM_ROLE_POLICY,
                "p",
                {"policy": policy_json({"Sid": "S", "Effect": "Allow", "Action": actions, "Resource": [resource]})},
            )
        )

    scoped = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:*"
    assert violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups"], scoped)) == []
    assert (
        "logs:PutLogEvents"
        in violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups", "logs:PutLogEvents"], scoped))[0]
    )
    assert violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups"], "*"))
    assert violations("iam-no-wildcard-resource", grant(["logs:DescribeLogGroups"], "arn:aws:logs:*:*:log-group:*"))
