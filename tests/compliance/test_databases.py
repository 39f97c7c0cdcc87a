"""Database rules: details beyond the shared cases."""

from __future__ import annotations

from shared.aws_types import (
    RDS_CLUSTER,
    RDS_CLUSTER_INSTANCE,
)

from .support import (
    fragment,
    res,
    violations,
)


def test_two_instances_pinned_to_one_zone_are_not_multi_az():
    def instances(*zones: str) -> dict:
        members = [
            res(RDS_CLUSTER_INSTANCE, f"db-{i}", {"clusterIdentifier": "mlapi-db-demo", "availabilityZone": zone})
            for i, zone in enumerate(zones)
        ]
        return fragment(res(RDS_CLUSTER, "db", {"clusterIdentifier": "mlapi-db-demo"}), *members)

    assert "pinned to us-east-1a" in violations("aurora-multi-az", instances("us-east-1a", "us-east-1a"), protect=True)[0]
    assert violations("aurora-multi-az", instances("us-east-1a", "us-east-1b"), protect=True) == []
