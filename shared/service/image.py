"""Which image a service runs: a pinned public image (by default the placeholder server's), or a
tag in the layer's own ECR repository (``imageTag``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import ConfigReader

# The default container: a small official Python image mirrored on ECR Public (reachable through
# the NAT gateway on 443, no Docker Hub rate limits, no credentials) running the stdlib server in
# placeholder_app.py, which answers the load balancer's health check. A pinned tag, never latest.
# ECR Public throttles unauthenticated pulls per source IP, and every task pulls through the same
# NAT address: at scale, push the image to the layer's own repository and set imageTag
# (docs/services.md, "Images").
DEFAULT_IMAGE = "public.ecr.aws/docker/library/python:3.12-alpine"

_IMAGE = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]{1,5})?/)?[a-z0-9]+(?:(?:[._]|__|-+|/)[a-z0-9]+)*"
    r"(?P<tag>:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?P<digest>@sha256:[a-f0-9]{64})?"
)
_IMAGE_RULE = (
    "a pinned image reference such as registry/repository:tag (not 'latest') or repository@sha256:<digest>; "
    "a moving tag would change the running code without a deployment"
)
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"


@dataclass(frozen=True)
class ImageChoice:
    container_image: str
    image_tag: str | None

    @property
    def uses_placeholder_server(self) -> bool:
        """The default image runs the built-in placeholder server (any other image runs its own)."""
        return self.image_tag is None and self.container_image == DEFAULT_IMAGE


def read_image(reader: ConfigReader) -> ImageChoice:
    """The ``containerImage`` and ``imageTag`` settings: pinned, and not both."""
    image = reader.string("containerImage", DEFAULT_IMAGE)
    assert image is not None
    match = _IMAGE.fullmatch(image)
    if not match or not (match["tag"] or match["digest"]) or (match["tag"] == ":latest" and not match["digest"]):
        raise reader.fail("containerImage", image, _IMAGE_RULE)
    tag = (
        reader.string(
            "imageTag", "", pattern=_TAG, allowed="an image tag: letters, digits, '_', '.', '-', at most 128 characters"
        )
        or None
    )
    if tag == "latest":
        raise reader.fail(
            "imageTag",
            tag,
            "a pinned tag pushed to this layer's repository (tags are immutable; 'latest' would be pushed only once)",
        )
    if tag is not None and image != DEFAULT_IMAGE:
        raise reader.fail(
            "imageTag",
            tag,
            f"either imageTag (an image in this layer's ECR repository) or containerImage (any image), not both; containerImage is {image!r}",
        )
    return ImageChoice(image, tag)
