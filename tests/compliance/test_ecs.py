"""ECS and ECR rules: container definitions."""

from __future__ import annotations

from shared.aws_types import (
    TASK_DEFINITION,
)

from .support import (
    containers,
    fragment,
    res,
    violations,
)


def test_a_secret_interpolated_into_container_definitions_is_flagged():
    task = res(TASK_DEFINITION, "td", {"containerDefinitions": "[secret]"}, layer="compute")
    assert violations("ecs-no-secrets-in-environment", fragment(task)) == [
        "containerDefinitions is a secret value: a secret was interpolated into the task definition"
    ]


def test_aws_keys_in_environment_are_flagged_by_name_and_by_value():
    by_name = containers(environment=[{"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}])
    fake_key_id = "AKIA" + "ABCDEFGHIJKLMNOP"  # the shape of an access key id, built here so no scanner takes it for one
    by_value = containers(environment=[{"name": "UPSTREAM", "value": fake_key_id}])
    harmless = containers(
        environment=[{"name": "TOKEN_TTL", "value": "3600"}, {"name": "DB_PASSWORD_SECRET_ARN", "value": "arn:aws:x"}]
    )
    for defs, expected in ((by_name, 1), (by_value, 1), (harmless, 0)):
        found = violations(
            "ecs-no-secrets-in-environment", fragment(res(TASK_DEFINITION, "td", {"containerDefinitions": defs}, layer="compute"))
        )
        assert len(found) == expected, (defs, found)
