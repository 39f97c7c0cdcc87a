"""Availability-zone lookup: three distinct AZs of the region, in a stable order."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from shared.errors import PlatformError, quote

from .settings import AZ_COUNT


def availability_zones(provider: aws.Provider, region: str) -> list[str]:
    """The first three default-enabled AZs of ``region`` (sorted by name).

    Looked up synchronously because the number of subnets must be known when they are declared
    (resources are never created inside ``apply``). Not filtered by the zones' current state: a
    zone that reports ``impaired`` or ``constrained`` during an incident would drop out, shift
    every subnet to another zone and make the next ``up`` replace the subnets and the Aurora
    instances in them. The set of default-enabled zones does not change.
    """
    result = aws.get_availability_zones(
        filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
        opts=pulumi.InvokeOptions(provider=provider),
    )
    names = sorted(set(result.names))
    if len(names) < AZ_COUNT:
        raise PlatformError(
            f"Region {quote(region)} offers {len(names)} availability zone(s) ({', '.join(names) or 'none'}); "
            f"the platform needs {AZ_COUNT}. Choose another region with --region / aws:region."
        )
    return names[:AZ_COUNT]
