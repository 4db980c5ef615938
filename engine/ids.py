"""Content ids: SHA-256 of text, and a decision's id from what the decision was made on.

The audit writer process (`audit/writer.py`) runs as a script of the standard library alone and
keeps its own copy of `decision_id`; a test holds the two equal.
"""

from __future__ import annotations

import hashlib

# Copying an empty hash object costs less than making a new one (OpenSSL 3 looks the digest up
# on every `hashlib.sha256()`), which shows on the short texts hashed per decision.
_EMPTY_SHA256 = hashlib.sha256()


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of UTF-8 text."""
    digest = _EMPTY_SHA256.copy()
    digest.update(text.encode())
    return digest.hexdigest()


def decision_id(policy_sha: str, account_id: str | None, as_of: str, input_sha: str) -> str:
    """A decision's id: the same policy, account, moment and inputs give the same id."""
    return sha256_hex("\n".join((policy_sha, account_id or "", as_of, input_sha)))[:32]
