"""Clearline's engine: load, check, compile and decide credit-line policies."""

from .audit import AuditLog
from .compile import CompiledPolicy, compile_policy
from .decide import Decision, Reason, decide
from .errors import ClearlineError, Diagnostic, FactError, PolicyError
from .load import analyse_policy, load_policy, load_policy_text
from .model import ActionKind, Policy
from .sample import sample_accounts
from .version import ENGINE_VERSION
from .versions import PolicyRegistry

__all__ = [
    "ENGINE_VERSION",
    "ActionKind",
    "AuditLog",
    "ClearlineError",
    "CompiledPolicy",
    "Decision",
    "Diagnostic",
    "FactError",
    "Policy",
    "PolicyError",
    "PolicyRegistry",
    "Reason",
    "analyse_policy",
    "compile_policy",
    "decide",
    "load_policy",
    "load_policy_text",
    "sample_accounts",
]
