"""API keys: random tokens whose SHA-256 alone is kept at rest, each with its scopes.

A key is 32 random bytes (256 bits), so a plain SHA-256 of it cannot be reversed by guessing;
a slow password hash (bcrypt, scrypt) protects low-entropy human passwords and would only add
milliseconds to every request here.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearline.engine.errors import ClearlineError

SCOPES = ("decide", "read", "admin")
KEYS_FORMAT = "clearline-keys/1"
KEY_PREFIX = "clk_"


class KeysError(ClearlineError):
    """A keys file that cannot be used (unreadable, malformed, unknown scopes)."""


@dataclass(frozen=True)
class ApiKey:
    """One key as stored: its name, the SHA-256 of its text and what it may do."""

    name: str
    sha256: str
    scopes: frozenset[str]


def key_hash(key: str) -> str:
    """The SHA-256 of a key's text, as the keys file keeps it."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class KeyRing:
    """The keys a service accepts, looked up by the hash of the key presented."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash = {key.sha256: key for key in keys}

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Read a keys file; KeysError says what is wrong with it."""
        where = os.fspath(path)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeysError(f"{where}: cannot read the keys file ({exc.strerror})") from None
        except ValueError as exc:
            raise KeysError(f"{where}: not a keys file (invalid JSON: {exc})") from None
        return cls(_parse(data, where))

    def find(self, presented: str) -> ApiKey | None:
        """The key presented, if it is one of ours."""
        return self._by_hash.get(key_hash(presented))

    def __len__(self) -> int:
        return len(self._by_hash)


def _parse(data: Any, where: str) -> list[ApiKey]:
    if not isinstance(data, dict) or data.get("format") != KEYS_FORMAT:
        raise KeysError(f"{where}: not a keys file (format {KEYS_FORMAT!r} expected)")
    keys: list[ApiKey] = []
    for n, item in enumerate(data.get("keys") or []):
        if not isinstance(item, dict):
            raise KeysError(f"{where}: key {n}: not an object")
        name, sha, scopes = item.get("name"), item.get("sha256"), item.get("scopes")
        if not isinstance(name, str) or not isinstance(sha, str) or len(sha) != 64:
            raise KeysError(f"{where}: key {n}: needs a `name` and a 64-digit `sha256`")
        if not isinstance(scopes, list) or not scopes or not set(scopes) <= set(SCOPES):
            raise KeysError(f"{where}: key {name}: scopes must be some of {', '.join(SCOPES)}")
        keys.append(ApiKey(name, sha.lower(), frozenset(scopes)))
    return keys


def add_key(path: str | os.PathLike[str], name: str, scopes: list[str]) -> str:
    """Create a key, append its hash to the keys file (made if absent) and return its text,
    which is shown once and stored nowhere."""
    file = Path(path)
    data: dict[str, Any] = {"format": KEYS_FORMAT, "keys": []}
    if file.exists():
        data = json.loads(file.read_text(encoding="utf-8"))
        _parse(data, os.fspath(path))  # refuse to extend a file we could not read back
    if any(item.get("name") == name for item in data["keys"]):
        raise KeysError(f"{file}: a key named `{name}` exists already")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    data["keys"].append({"name": name, "sha256": key_hash(key), "scopes": sorted(set(scopes))})
    temporary = file.with_name(file.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, file)  # never a half-written keys file
    return key
