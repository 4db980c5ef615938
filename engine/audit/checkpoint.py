"""Signed checkpoints of the audit log's Merkle tree: C2SP tlog-checkpoint in a signed note.

A checkpoint is a few lines of text anyone can read and keep:

    clearline-audit/<log id>          origin: which log
    10000                             tree size: how many records
    <base64 of the 32-byte root>      root hash of the tree over the first 10000 records

    — clearline-audit/<log id> <base64 of 4-byte key id || 64-byte Ed25519 signature>

(C2SP `signed-note` and `tlog-checkpoint`; keys in the `golang.org/x/mod/sumdb/note` text
form.) A witness co-signs by adding its own signature line; the log's line must be there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from clearline.engine.errors import ClearlineError

ED25519 = b"\x01"  # the signature type byte of Ed25519 keys in signed notes
DASH = "\u2014"  # signature lines start with an em dash and a space
_NAME = re.compile(r"[^\s+]+")


class CheckpointError(ClearlineError):
    """A key, note or checkpoint that cannot be read, or does not hold."""


def origin_of(log_id: str) -> str:
    """The checkpoint origin of a log: its identity in every checkpoint."""
    return f"clearline-audit/{log_id}"


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || "\\n" || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    """A public key with its name, as `NAME+HEXID+BASE64(0x01 || key)`."""

    name: str
    public: bytes

    @property
    def id(self) -> bytes:
        """The 4-byte key id."""
        return key_id(self.name, self.public)

    def text(self) -> str:
        """The key in its text form."""
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        """Read a verifier key; CheckpointError if it is not one."""
        name, _, rest = text.strip().partition("+")
        hex_id, _, encoded = rest.partition("+")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError("not a verifier key (its key is not base64)") from None
        if not _NAME.fullmatch(name) or len(raw) != 33 or raw[:1] != ED25519:
            raise CheckpointError("not an Ed25519 verifier key (NAME+ID+BASE64)")
        key = cls(name, raw[1:])
        if key.id.hex() != hex_id:
            raise CheckpointError(f"verifier key {name}: its id {hex_id!r} does not match its key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's over `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A private key with its name, as `PRIVATE+KEY+NAME+HEXID+BASE64(0x01 || seed)`."""

    name: str
    seed: bytes

    @classmethod
    def generate(cls, name: str) -> SignerKey:
        """A new Ed25519 key."""
        if not _NAME.fullmatch(name):
            raise CheckpointError(f"a key name has no spaces or '+': {name!r}")
        return cls(name, os.urandom(32))

    @property
    def verifier(self) -> VerifierKey:
        """The matching public key."""
        public = (
            Ed25519PrivateKey.from_private_bytes(self.seed)
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        return VerifierKey(self.name, public)

    def text(self) -> str:
        """The key in its text form (keep it secret: never in the log)."""
        encoded = base64.b64encode(ED25519 + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        """Read a signer key; CheckpointError if it is not one."""
        parts = text.strip().split("+", 4)  # the base64 key may hold "+" itself
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise CheckpointError("not a signer key (PRIVATE+KEY+NAME+ID+BASE64)")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError("not a signer key (its key is not base64)") from None
        if len(raw) != 33 or raw[:1] != ED25519 or not _NAME.fullmatch(parts[2]):
            raise CheckpointError("not an Ed25519 signer key")
        key = cls(parts[2], raw[1:])
        if key.verifier.id.hex() != parts[3]:
            raise CheckpointError(f"signer key {parts[2]}: its id does not match its key")
        return key

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message`."""
        return Ed25519PrivateKey.from_private_bytes(self.seed).sign(message)


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree size and root hash, as signed."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        """The note's text: origin, size, base64 root (and extension lines), each with "\\n"."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    def signed(self, key: SignerKey) -> str:
        """The checkpoint as a signed note."""
        body = self.body()
        signature = key.verifier.id + key.sign(body.encode())
        return f"{body}\n{DASH} {key.name} {base64.b64encode(signature).decode()}\n"


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint read from a note, with the signatures found on it."""

    checkpoint: Checkpoint
    body: str
    signatures: tuple[tuple[str, bytes, bytes], ...]  # (key name, key id, signature)

    def signed_by(self, key: VerifierKey) -> bool:
        """Whether `key` signed this checkpoint."""
        return any(
            name == key.name and kid == key.id and key.verify(self.body.encode(), signature)
            for name, kid, signature in self.signatures
        )

    def cosign(self, key: SignerKey) -> str:
        """The note with one more signature line (a witness's co-signature)."""
        signature = key.verifier.id + key.sign(self.body.encode())
        lines = [
            f"{DASH} {name} {base64.b64encode(k + s).decode()}" for name, k, s in self.signatures
        ]
        lines.append(f"{DASH} {key.name} {base64.b64encode(signature).decode()}")
        return self.body + "\n" + "".join(line + "\n" for line in lines)


def parse_note(text: str) -> SignedCheckpoint:
    """Read a signed checkpoint note; CheckpointError saying what is wrong."""
    body, sep, signature_text = text.rpartition("\n\n")
    if not sep:
        raise CheckpointError("not a signed note (no blank line before its signatures)")
    body += "\n"
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("not a checkpoint (it needs origin, tree size and root hash)")
    origin, size_text, root_text = lines[:3]
    if not (size_text.isascii() and size_text.isdigit()) or len(size_text) > 19:
        raise CheckpointError(f"line 2: tree size {size_text[:40]!r} is not a number")
    if size_text != str(int(size_text)):
        raise CheckpointError(f"line 2: tree size {size_text[:40]!r} has leading zeros")
    try:
        root = base64.b64decode(root_text, validate=True)
    except (binascii.Error, ValueError):
        root = b""
    if len(root) != 32:
        raise CheckpointError("line 3: the root hash is not 32 bytes of base64")
    signatures = []
    for number, line in enumerate(signature_text.split("\n"), start=len(lines) + 2):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH:
            raise CheckpointError(f"line {number}: not a signature line ('— NAME BASE64')")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            raise CheckpointError(f"line {number}: the signature is not base64") from None
        if len(raw) < 5:
            raise CheckpointError(f"line {number}: the signature is too short")
        signatures.append((parts[1], raw[:4], raw[4:]))
    if not signatures:
        raise CheckpointError("the note has no signature")
    checkpoint = Checkpoint(origin, int(size_text), root, tuple(lines[3:]))
    return SignedCheckpoint(checkpoint, body, tuple(signatures))


def read_key_file(path: str | os.PathLike[str], *, private: bool) -> SignerKey | VerifierKey:
    """A key from a file; CheckpointError naming the file if it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{os.fspath(path)}: cannot read the key ({exc})") from None
    try:
        return SignerKey.parse(text) if private else VerifierKey.parse(text)
    except CheckpointError as exc:
        raise CheckpointError(f"{os.fspath(path)}: {exc}") from None


def checkpoint_files(path: str | os.PathLike[str]) -> list[Path]:
    """The checkpoint files of a path: the file itself, or a folder's `*.checkpoint` files."""
    where = Path(path)
    if where.is_dir():
        return sorted(where.glob("*.checkpoint"))
    return [where]


def file_name(size: int) -> str:
    """The name of a checkpoint file in a checkpoints folder (sorted by tree size)."""
    return f"{size:020d}.checkpoint"
