"""The shipped policies: from the checkout when run in one, else from the installed package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

PREFIX = "policies/"


def shipped(relative: str | Path) -> Path:
    """A shipped policy file, e.g. `policies/credit-line-closure/1.1.0.yaml`.

    In a checkout the working copy is used (what an author edits); installed from a wheel into
    an empty folder, the copy packaged as `clearline.policies` is.
    """
    local = Path(relative)
    if local.exists() or not str(relative).startswith(PREFIX):
        return local
    packaged = resources.files("clearline.policies").joinpath(str(relative)[len(PREFIX) :])
    return Path(str(packaged))
