"""Naming rule: the environment suffix."""

from __future__ import annotations

from shared.aws_types import (
    LOG_GROUP,
    TASK_DEFINITION,
)

from .support import (
    fragment,
    res,
    violations,
)


def test_log_group_paths_and_kms_aliases_carry_the_suffix_as_a_path_segment():
    good = [res(LOG_GROUP, "lg", {"name": "/mlapi/demo/api"}), res("aws:kms/alias:Alias", "a", {"name": "alias/mlapi-data-demo"})]
    assert violations("names-carry-suffix", fragment(*good)) == []
    # An engine family is not a name; a task definition's family is.
    params = res(
        "aws:rds/clusterParameterGroup:ClusterParameterGroup", "pg", {"name": "mlapi-pg-demo", "family": "aurora-postgresql16"}
    )
    assert violations("names-carry-suffix", fragment(params)) == []
    task = res(TASK_DEFINITION, "td", {"family": "api"}, layer="compute")
    assert violations("names-carry-suffix", fragment(task)) == ["family 'api' does not contain the environment suffix 'demo'"]
    # DNS names are not resource names of their own.
    assert violations("names-carry-suffix", fragment(res("aws:route53/record:Record", "r", {"name": "api.example.com"}))) == []
