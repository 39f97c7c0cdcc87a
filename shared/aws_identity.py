"""The account, partition and region a provider deploys to, as Outputs (never literals)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsIdentity:
    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    dns_suffix: pulumi.Output[str]

    @classmethod
    def lookup(cls, provider: aws.Provider) -> AwsIdentity:
        opts = pulumi.InvokeOptions(provider=provider)
        caller = aws.get_caller_identity_output(opts=opts)
        partition = aws.get_partition_output(opts=opts)
        return cls(account_id=caller.account_id, partition=partition.partition, dns_suffix=partition.dns_suffix)
