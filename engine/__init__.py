"""Clearline's engine: load, check, compile and decide credit-line policies."""

from .audit import AuditLog
from .case_store import CaseStore
from .cases import Case, CaseError, CaseEvent, CaseState, apply_event, case_event, open_case, replay
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
    "Case",
    "CaseError",
    "CaseEvent",
    "CaseState",
    "CaseStore",
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
    "apply_event",
    "case_event",
    "compile_policy",
    "decide",
    "load_policy",
    "load_policy_text",
    "open_case",
    "replay",
    "sample_accounts",
]
