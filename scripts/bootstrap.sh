#!/usr/bin/env bash
# One command for a fresh machine: create the repository's virtualenv (.venv), install the
# platform and its tools into it, then render the whole demo environment offline.
# Needs only Python 3.10+ and access to PyPI. No Pulumi CLI, no AWS account.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
echo "Installed into .venv: $(.venv/bin/python -c 'import pulumi, pulumi_aws, importlib.metadata as m; print("pulumi", m.version("pulumi"), "/ pulumi-aws", m.version("pulumi-aws"))')"

.venv/bin/invoke plan --env "${ENV_SUFFIX:-demo}" --out "plans/${ENV_SUFFIX:-demo}.plan.json"
