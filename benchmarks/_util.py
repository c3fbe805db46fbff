"""What the benchmark scripts share."""

from __future__ import annotations

import importlib.metadata

__all__ = ["version"]


def version(package: str) -> str | None:
    """The installed version of `package`, or None when it is not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
