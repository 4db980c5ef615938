"""Clearline's engine: load, check, compile and decide credit-line policies."""

from clearline.engine.audit.log import AuditLog
from clearline.engine.cases.lifecycle import (
    Case,
    CaseError,
    CaseEvent,
    CaseState,
    apply_event,
    case_event,
    open_case,
    replay,
)
from clearline.engine.cases.store import CaseStore
from clearline.engine.decisions.compile import CompiledPolicy, compile_policy
from clearline.engine.decisions.decide import Decision, PolicyNotInForce, Reason, decide
from clearline.engine.errors import ClearlineError, Diagnostic, FactError, PolicyError
from clearline.engine.model import ActionKind, Policy
from clearline.engine.policy.load import analyse_policy, load_policy, load_policy_text
from clearline.engine.synthetic.accounts import sample_accounts
from clearline.engine.version import ENGINE_VERSION
from clearline.engine.versions import PolicyRegistry

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
    "PolicyNotInForce",
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
