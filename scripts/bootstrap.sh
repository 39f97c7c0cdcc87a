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
# VENV and PLAN_OUT exist for `invoke bench --bootstrap`, which times a fresh install into a temp dir.
VENV="${VENV:-.venv}"
PLAN_OUT="${PLAN_OUT:-plans/${ENV_SUFFIX:-demo}.plan.json}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# uv (pinned and hash-checked itself) installs the lock several times faster than pip.
"$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r scripts/uv.lock.txt
"$VENV/bin/uv" pip sync --quiet --python "$VENV/bin/python" --require-hashes requirements.lock
# The repository itself (the `shared` package), editable, with no dependencies beyond the lock.
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
echo "Installed into $VENV: $("$VENV/bin/python" -c 'import pulumi, pulumi_aws, importlib.metadata as m; print("pulumi", m.version("pulumi"), "/ pulumi-aws", m.version("pulumi-aws"), "(the aws provider plugin deploys use)")')"

"$VENV/bin/invoke" plan --env "${ENV_SUFFIX:-demo}" --out "$PLAN_OUT"
