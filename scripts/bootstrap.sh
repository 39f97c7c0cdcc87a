#!/usr/bin/env bash
# One command for a fresh machine: create the repository's virtualenv (.venv), install exactly the
# versions in requirements.lock (hash-checked) into it, then render the whole demo environment offline.
# Needs only Python 3.10+ and access to PyPI. No Pulumi CLI, no AWS account.
#
# The lock decides pulumi-aws, and so the provider plugin every deploy from this checkout uses:
# two machines with the same lock deploy with the same plugin. Upgrade on purpose: `invoke lock`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# uv (pinned and hash-checked itself) installs the lock several times faster than pip.
.venv/bin/python -m pip install --quiet --require-hashes --no-deps -r scripts/uv.lock.txt
.venv/bin/uv pip sync --quiet --python .venv/bin/python --require-hashes requirements.lock
# The repository itself (the `shared` package), editable, with no dependencies beyond the lock.
.venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
echo "Installed into .venv: $(.venv/bin/python -c 'import pulumi, pulumi_aws, importlib.metadata as m; print("pulumi", m.version("pulumi"), "/ pulumi-aws", m.version("pulumi-aws"), "(the aws provider plugin deploys use)")')"

.venv/bin/invoke plan --env "${ENV_SUFFIX:-demo}" --out "plans/${ENV_SUFFIX:-demo}.plan.json"
