"""Where ``invoke cost`` gets its plan documents, and the quoted estimates in docs/cost.md."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import manifest
from ..errors import ConfigError, PlatformError
from ..plan.document import build_plan
from .estimate import check_document, estimate
from .prices import load_table
from .report import format_table
from .usage import Usage

DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"
# The environments docs/cost.md quotes: (block name, environment, render protected). Pinned to
# us-east-1 so the quote does not depend on the reader's AWS_REGION.
DOC_BLOCKS: tuple[tuple[str, str, bool], ...] = (("default", "demo", False), ("protected", "demo", True))
DOC_REGION = "us-east-1"
REGENERATE = "invoke cost-docs"


def read_plan(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PlatformError(f"cannot read the plan document {path}: {exc}") from None
    check_document(document, str(path))
    if not isinstance(document, dict):  # narrowed for mypy; check_document has already refused it
        raise PlatformError(f"{path} is not a plan document")
    return document


def render_plan(env: str, region: str, *, protect: bool = False, quiet: bool = True, parallel: bool = False) -> dict[str, Any]:
    """Render ``env`` offline, every layer protected when ``protect`` (what `invoke check --protect`
    does), in layer processes when ``parallel`` (see :func:`shared.plan.document.build_plan`)."""
    overrides = {layer.name: {"protect": True} for layer in manifest.LAYERS} if protect else None
    if quiet:
        # The programs' own warnings (sample domain, ...) belong to `invoke plan`, not to a price list.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return build_plan(env, region, overrides=overrides, parallel=parallel).document()
    return build_plan(env, region, overrides=overrides, parallel=parallel).document()


def check_environment(document: Mapping[str, Any], env: str | None, source: str) -> None:
    if env and document.get("environment") != env:
        raise ConfigError("--env", env, f"the environment of {source}, {document.get('environment')!r} (or leave --env out)")


def doc_block(document: Mapping[str, Any]) -> str:
    """What docs/cost.md quotes for a plan: the task's table at the default assumptions."""
    return format_table(estimate(document, load_table(), Usage()))


def _marker(name: str) -> tuple[str, str]:
    return f"<!-- cost-estimate:{name} (regenerate: {REGENERATE}) -->", f"<!-- /cost-estimate:{name} -->"


def quoted_blocks(text: str) -> dict[str, str]:
    """The estimates quoted in ``text`` (the body of each fenced block between the markers)."""
    found = {}
    for name, _, _ in DOC_BLOCKS:
        begin, end = _marker(name)
        match = re.search(re.escape(begin) + r"\n```text\n(.*?)\n```\n" + re.escape(end), text, re.DOTALL)
        if match:
            found[name] = match.group(1)
    return found


def regenerate_docs(path: Path = DOC) -> list[str]:
    """Rewrite each quoted estimate in ``path`` with the task's current output; returns the names changed."""
    text = path.read_text()
    changed = []
    for name, env, protect in DOC_BLOCKS:
        begin, end = _marker(name)
        pattern = re.compile(re.escape(begin) + r"\n.*?" + re.escape(end), re.DOTALL)
        match = pattern.search(text)
        if match is None:
            raise PlatformError(f"{path} has no block `{begin}` ... `{end}` to regenerate")
        fresh = f"{begin}\n```text\n{doc_block(render_plan(env, DOC_REGION, protect=protect))}\n```\n{end}"
        if match.group(0) != fresh:
            changed.append(name)
            text = text[: match.start()] + fresh + text[match.end() :]
    path.write_text(text)
    return changed
