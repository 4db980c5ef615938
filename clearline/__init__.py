"""Clearline: decide, explain and disclose consumer credit-line policies from one source."""

from clearline.engine import (
    ENGINE_VERSION,
    ActionKind,
    ClearlineError,
    CompiledPolicy,
    Decision,
    Diagnostic,
    FactError,
    Policy,
    PolicyError,
    Reason,
    analyse_policy,
    compile_policy,
    decide,
    load_policy,
    load_policy_text,
    sample_accounts,
)

__version__ = ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "ActionKind",
    "ClearlineError",
    "CompiledPolicy",
    "Decision",
    "Diagnostic",
    "FactError",
    "Policy",
    "PolicyError",
    "Reason",
    "__version__",
    "analyse_policy",
    "compile_policy",
    "decide",
    "load_policy",
    "load_policy_text",
    "sample_accounts",
]
