"""Pulumi CrossGuard policy pack of the ML API platform.

Every rule of shared/compliance becomes one policy here (mandatory or advisory as the registry
says); ``invoke check`` runs the very same rules offline over the whole plan. Run it with a real
deployment: ``cd stacks/<layer> && pulumi up --policy-pack ../../policy``.
"""

import sys
from pathlib import Path

# The CLI runs a `runtime: python` pack through its pulumi-analyzer-policy-python shim: in this
# directory, with the interpreter of PulumiPolicy.yaml's `virtualenv` (../.venv, where
# `scripts/bootstrap.sh` installs pulumi-policy with the project), as `python -u -m pulumi.policy
# <engine> .`, which runs this file. The rules live in the repository's `shared` package one level
# up (also importable from the virtualenv's editable install), so the pack is used from a checkout
# (`--policy-pack ../../policy`), not published on its own.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from shared.compliance.pack import DESCRIPTION, PACK_NAME, build_policies

PolicyPack(name=PACK_NAME, description=DESCRIPTION, policies=build_policies())
