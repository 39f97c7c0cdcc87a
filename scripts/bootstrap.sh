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
NEW_ENOUGH='import sys; sys.exit(sys.version_info < (3, 10))'
if ! "$PYTHON" -c "$NEW_ENOUGH" 2>/dev/null; then
  echo "error: $PYTHON is missing or older than Python 3.10; install 3.10+ and run again (or PYTHON=python3.12 $0)." >&2
  exit 2
fi
# An existing virtualenv is kept only if its interpreter still runs and is new enough. One whose Python
# was upgraded or removed (pyenv, Homebrew, a copied checkout) has dangling links that `venv` does
# not repair, and an old pip-based one may be on a Python the lock does not support: recreate it.
if ! "$VENV/bin/python" -c "$NEW_ENOUGH" 2>/dev/null; then
  if [ -e "$VENV" ]; then
    echo "Recreating $VENV: its Python no longer runs or is older than 3.10."
  fi
  "$PYTHON" -m venv --clear "$VENV"
fi
# A virtualenv made without pip (`uv venv`, `--without-pip`) gets it back to install uv.
"$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip --upgrade >/dev/null
# uv (pinned and hash-checked itself) installs the lock several times faster than pip.
"$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r scripts/uv.lock.txt
# Sync with uv's own lock too: `uv pip sync` removes whatever the files do not list, and in a
# virtualenv uv created that includes uv itself (the next line would then fail).
# --compile-bytecode: uv writes no .pyc files (pip does), and invoke turns bytecode writing off
# for everything a task imports, so without it every `invoke plan` compiles the pulumi_aws files it
# loads from source again. On 2 CPUs: the demo plan 2.9 s instead of 6.5 s, for ~8 s more here once.
"$VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$VENV/bin/python" --require-hashes requirements.lock scripts/uv.lock.txt
# The repository itself (the `shared` package), editable, with no dependencies beyond the lock.
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
echo "Installed into $VENV: $("$VENV/bin/python" -c 'import pulumi, pulumi_aws, importlib.metadata as m; print("pulumi", m.version("pulumi"), "/ pulumi-aws", m.version("pulumi-aws"), "(the aws provider plugin deploys use)")')"

"$VENV/bin/invoke" plan --env "${ENV_SUFFIX:-demo}" --out "$PLAN_OUT"
