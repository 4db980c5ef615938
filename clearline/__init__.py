"""Clearline: decide, explain and disclose consumer credit-line policies from one source."""

from clearline.engine import *  # noqa: F403 - the public API is the engine's
from clearline.engine import ENGINE_VERSION
from clearline.engine import __all__ as _engine_api

__version__ = ENGINE_VERSION
__all__ = [*_engine_api, "__version__"]
