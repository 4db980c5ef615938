"""Verifying an audit log against checkpoints others hold: a log cut short, rewound or
rewritten whole still walks as a chain, but no longer leads to a root someone kept."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clearline.engine.audit.checkpoint import (
    CheckpointError,
    SignedCheckpoint,
    VerifierKey,
    checkpoint_files,
    origin_of,
    parse_note,
)
from clearline.engine.audit.merkle import Tree


@dataclass(frozen=True)
class Finding:
    """What one held checkpoint says of the log."""

    checkpoint: str  # the file
    seq: int  # the first record missing or altered (0: about the checkpoint itself)
    kind: str  # unreadable, foreign, unsigned, truncated, altered
    message: str


def read_held(path: Path) -> SignedCheckpoint:
    """A checkpoint file; CheckpointError if it cannot be read as one."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"cannot read it ({exc})") from None
    return parse_note(text)


def check_held(
    log_id: str,
    leaves: list[bytes],
    places: list[str | os.PathLike[str]],
    key: VerifierKey | None,
) -> tuple[int, list[Finding]]:
    """Check the log's records (their leaf hashes) against each held checkpoint in `places`
    (files, or folders of `*.checkpoint` files); (checkpoints that hold, what the others say).
    """
    origin = origin_of(log_id)
    tree = Tree(leaves)
    held: list[tuple[str, SignedCheckpoint]] = []
    findings: list[Finding] = []
    files = [path for place in places for path in checkpoint_files(place)]
    if not files:
        findings.append(Finding(", ".join(map(str, places)), 0, "unreadable", "no checkpoint"))
    for path in files:
        try:
            note = read_held(path)
        except CheckpointError as exc:
            findings.append(Finding(str(path), 0, "unreadable", f"not a checkpoint: {exc}"))
            continue
        if note.checkpoint.origin != origin:
            findings.append(
                Finding(
                    str(path),
                    0,
                    "foreign",
                    f"a checkpoint of another log (origin {note.checkpoint.origin[:80]!r}; "
                    f"this log is {origin!r})",
                )
            )
        elif key is not None and not note.signed_by(key):
            names = ", ".join(sorted({name for name, _, _ in note.signatures}))
            findings.append(
                Finding(
                    str(path),
                    0,
                    "unsigned",
                    f"not signed by the log's key {key.name}+{key.id.hex()} (signatures by: "
                    f"{names[:120]}): another key, or the checkpoint was altered",
                )
            )
        else:
            held.append((str(path), note))
    held.sort(key=lambda item: item[1].checkpoint.size)
    good = 0  # the largest tree size known to hold
    holding = 0
    for name, note in held:
        size, root = note.checkpoint.size, note.checkpoint.root
        if size > tree.size:
            findings.append(
                Finding(
                    name,
                    tree.size + 1,
                    "truncated",
                    f"the log holds {tree.size} records, but this checkpoint commits to {size}: "
                    f"records {tree.size + 1} to {size} are missing (cut short, or rewound)",
                )
            )
        elif tree.root(size) != root:
            findings.append(
                Finding(
                    name,
                    good + 1,
                    "altered",
                    f"the log's first {size} records do not match this checkpoint's root: a "
                    f"record among {good + 1} to {size} was altered, removed or inserted (the "
                    "chain was re-hashed after it)",
                )
            )
        else:
            good = max(good, size)
            holding += 1
    return holding, findings
