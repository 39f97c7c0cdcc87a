"""The site's ACM certificate (DNS-validated in Route 53) and the alias records that publish it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from shared.naming import Namer
from shared.tags import name_tag

VALIDATION_RECORD_TTL = 60


@dataclass(frozen=True)
class SiteCertificateArgs:
    namer: Namer
    hostname: str
    hosted_zone_id: str


class SiteCertificate(pulumi.ComponentResource):
    """An ACM certificate for ``hostname``, issued once its DNS validation record exists.

    Give it the us-east-1 provider: CloudFront uses certificates from there only.
    """

    def __init__(self, name: str, args: SiteCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:edge:SiteCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.hostname,
            validation_method="DNS",
            tags=name_tag(args.namer.name("site-cert")),
            opts=child,
        )
        # One domain name, so exactly one validation option: reading its fields is not creating
        # resources inside apply, and the preview shows the record.
        option = self.certificate.domain_validation_options[0]
        self.validation_record = aws.route53.Record(
            f"{name}-validation-record",
            zone_id=args.hosted_zone_id,
            name=option.resource_record_name,
            type=option.resource_record_type,
            records=[option.resource_record_value],
            ttl=VALIDATION_RECORD_TTL,
            # ACM reuses the same record for a re-created certificate of the same name (an
            # environment torn down and stood up again): take it over instead of failing.
            allow_overwrite=True,
            opts=child,
        )
        self.validation = aws.acm.CertificateValidation(
            f"{name}-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[self.validation_record.fqdn],
            opts=child,
        )
        # The validated ARN: a distribution given this waits until the certificate is issued.
        self.arn = self.validation.certificate_arn
        self.register_outputs({"certificateArn": self.arn})


@dataclass(frozen=True)
class SiteAliasArgs:
    hostname: str
    hosted_zone_id: str
    distribution_domain_name: pulumi.Input[str]
    distribution_zone_id: pulumi.Input[str]


class SiteAlias(pulumi.ComponentResource):
    """A and AAAA alias records pointing the site hostname at the distribution (IPv4 and IPv6)."""

    def __init__(self, name: str, args: SiteAliasArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlapi:edge:SiteAlias", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.records = [
            aws.route53.Record(
                f"{name}-{record_type.lower()}",
                zone_id=args.hosted_zone_id,
                name=args.hostname,
                type=record_type,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=args.distribution_domain_name,
                        zone_id=args.distribution_zone_id,
                        # CloudFront aliases cannot evaluate target health.
                        evaluate_target_health=False,
                    )
                ],
                opts=child,
            )
            for record_type in ("A", "AAAA")
        ]
        self.register_outputs({})
