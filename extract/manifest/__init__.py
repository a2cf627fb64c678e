"""Manifests: typed schema, safe loading with file/line/key-path errors."""

from extract.manifest.loader import load_manifests, parse_source
from extract.manifest.typing import Column, Model, Source

__all__ = ["Column", "Model", "Source", "load_manifests", "parse_source"]
