"""The rules: small pure functions over the normalized view (see ../model.py), registered once.

One module per domain; importing this package registers every rule, in this order (the order of
``REGISTRY``, of the policy pack's policies and of ``invoke check``'s report):

* ``encryption``: KMS keys, customer-managed keys on every store, log retention;
* ``databases``: private, RDS-managed password, deletion protection, final snapshot, multi-AZ,
  point-in-time recovery, destroyability of ephemeral environments;
* ``secrets_manager``: rotation;
* ``network``: subnets, security group ingress and egress, the default group, flow logs, task IPs,
  interface VPC endpoints (private DNS, HTTPS-only security group, private subnets, scoped policy);
* ``load_balancers``: headers, HTTPS redirect, TLS policy, WAF association, deletion protection,
  HTTPS on an internet-facing load balancer CloudFront does not front;
* ``edge``: CloudFront viewers, certificate and origins, WAF web ACLs;
* ``iam``: named actions and resources, distinct task roles;
* ``ecs``: ECS clusters, containers and ECR repositories;
* ``deployments``: CodeDeploy blue/green releases (rollback, alarms, traffic control, the old
  tasks' lifetime, a group for every CODE_DEPLOY service, a private test listener);
* ``naming``: the environment suffix in every name;
* ``..literals``: no literal region or account id (needs two renderings of the whole plan).

Each rule names the controls it comes from: ``FSBP X.n`` is AWS Security Hub's Foundational
Security Best Practices standard, ``Config <rule>`` an AWS Config managed rule, ``CKV_AWS_n`` a
Checkov check, ``MLAPI <topic>`` a requirement of this project (../shared/seeds: naming,
destroyability, no hard-coded region). Rule functions yield a message (or a Finding) per problem
and nothing when the resource complies. The AWS type tokens come from ``shared.aws_types``.
"""

from __future__ import annotations

# Importing a module registers its rules: the order below is the registry's order (isort must
# not sort it), and a test pins it.
# isort: off
from . import encryption, databases, secrets_manager, network, load_balancers, edge, iam, ecs, deployments, naming
from .. import literals

# isort: on

DOMAINS = (encryption, databases, secrets_manager, network, load_balancers, edge, iam, ecs, deployments, naming, literals)

__all__ = ["DOMAINS"]
