"""`clearline diff` reports for policy authors and reviewers: plain text and Markdown."""

from __future__ import annotations

import json
from typing import Any

from clearline.disclosures.escape import code_span, markdown_text
from clearline.engine.canonical import to_json_value
from clearline.engine.change.diff import PolicyDiff
from clearline.engine.change.impact import Impact


def _show(value: Any) -> str:
    if value is None:
        return "-"
    data = to_json_value(value)
    if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
        return " / ".join(f"{lang}: {text}" for lang, text in sorted(data.items()))
    if isinstance(data, str):
        return data
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def render_text(diff: PolicyDiff) -> str:
    """A plain-text report for policy authors, adverse changes first."""
    old, new = diff.old.metadata, diff.new.metadata
    lines = [
        f"{old.id} {old.version} -> {new.id} {new.version} (effective {new.effective_from.date().isoformat()})",
    ]
    counts = diff.to_dict()["summary"]
    lines.append(
        f"{len(diff.changes)} changes: {counts['adverse']} adverse, {counts['favourable']} favourable, {counts['neutral']} neutral"
    )
    for impact in Impact:
        for change in (c for c in diff.changes if c.impact is impact):
            lines.append(f"{impact.value.upper():<10} {change.kind:<16} {change.where}")
            lines.append(f"           {_show(change.old)}  ->  {_show(change.new)}")
            lines.append(f"           because {change.why}")
    return "\n".join(lines) + "\n"


def render_markdown(diff: PolicyDiff) -> str:
    """A Markdown report for policy authors and reviewers."""
    old, new = diff.old.metadata, diff.new.metadata
    out = [f"# {new.id}: {old.version} → {new.version}", ""]
    out.append(f"New version effective {new.effective_from.date().isoformat()}.")
    for impact in Impact:
        changes = [c for c in diff.changes if c.impact is impact]
        if not changes:
            continue
        out += ["", f"## {impact.value.capitalize()} ({len(changes)})", ""]
        out.append("| change | where | before | after | why |")
        out.append("|---|---|---|---|---|")
        for c in changes:
            # Policy texts are shown as text: no markup, link or raw HTML of their own.
            where = str(code_span(c.where)).replace("|", "\\|")
            cells = [
                markdown_text(c.kind),
                where,
                *map(markdown_text, (_show(c.old), _show(c.new), c.why)),
            ]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
