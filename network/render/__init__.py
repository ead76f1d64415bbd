"""Render per-device configs for every platform from one intent."""

from network.render.context import device_context
from network.render.design import RenderIndex
from network.render.engine import Renderer, RenderResult
from network.render.secrets import Secrets, load_secrets

__all__ = [
    "RenderIndex",
    "RenderResult",
    "Renderer",
    "Secrets",
    "device_context",
    "load_secrets",
]
