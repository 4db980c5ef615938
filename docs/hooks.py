"""MkDocs hooks: pages generated from Clearline's own data (the diagnostic codes, benchmark results)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import click

from clearline.cli import cli
from clearline.engine.codes import code_families, diagnostic_codes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _cell(text: object) -> str:
    return ("—" if text is None else str(text)).replace("|", "\\|").replace("\n", " ")


def diagnostics_markdown() -> str:
    """Every registered code, grouped by family, as Markdown tables."""
    codes = diagnostic_codes()
    parts: list[str] = []
    for letter, family in code_families().items():
        entries = [entry for entry in codes.values() if entry.family == letter]
        if not entries:
            continue
        parts.append(f"## {letter}: {family}\n")
        parts.append("| code | severity | what it means | how to fix it |")
        parts.append("|---|---|---|---|")
        for entry in sorted(entries, key=lambda e: e.code):
            parts.append(
                f"| <span id='{entry.code}'>`{entry.code}`</span> | {entry.severity} "
                f"| {_cell(entry.title)} | {_cell(entry.help)} |"
            )
        parts.append("")
    return "\n".join(parts)


def _machine(data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    bits = [str(machine.get(key, "")) for key in ("cpu", "cores", "python", "platform")]
    return ", ".join(bit for bit in bits if bit) or "not recorded"


def _decisions_table(data: dict[str, Any]) -> str:
    lines = [
        f"Run {data.get('when', '?')} on {_machine(data)}: {data.get('accounts', '?')} accounts "
        f"of {data['policy']['id']} {data['policy']['version']}.\n",
        "| engine | µs per decision | decisions/s | × CPython floor | × Clearline | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for engine in data.get("engines", []):
        lines.append(
            f"| {_cell(engine['label'])} | {engine['us_per_decision']:.2f} "
            f"| {engine['decisions_per_s']:,} | {engine['vs_floor']:.2f} "
            f"| {engine['vs_clearline']:.2f} | {engine.get('peak_rss_mib', 0):.1f} |"
        )
    return "\n".join(lines) + "\n"


def _generic_table(name: str, data: dict[str, Any]) -> str:
    rows = data.get("rows")
    head = f"### {data.get('title', name)}\n\nRun {data.get('when', '?')} on {_machine(data)}"
    head += f" with `{data['command']}`.\n" if data.get("command") else ".\n"
    if not isinstance(rows, list) or not rows:
        return head
    columns = list(rows[0])
    lines = [head, "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def benchmarks_markdown() -> str:
    """The latest result file of each benchmark as Markdown tables."""
    parts: list[str] = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text("utf-8"))
        if path.name == "latest.json":
            parts.append("### Decisions, beside peer engines\n\n" + _decisions_table(data))
            if "comparison" in data:  # the per-million table of the same run
                parts.append(_generic_table(path.stem, {**data, **data["comparison"]}))
        else:
            parts.append(_generic_table(path.stem, data))
    return "\n".join(parts) or "No results recorded yet.\n"


def _commands(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    found: list[tuple[list[str], click.Command]] = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            found += _commands(command, [*path, name])
        else:
            found.append(([*path, name], command))
    return found


def commands_markdown() -> str:
    """Every command of the `clearline` command line: usage, what it does and its options."""
    parts: list[str] = []
    for path, command in _commands(cli, []):
        name = " ".join(["clearline", *path])
        context = click.Context(command, info_name=name)
        usage = command.get_usage(context).removeprefix("Usage: ")
        parts += [f"### `{name}`", "", "```console", usage, "```", ""]
        parts += [inspect.cleandoc((command.help or "").split("\f")[0]), ""]
        options = [p for p in command.get_params(context) if isinstance(p, click.Option)]
        for option in options:
            record = option.get_help_record(context)
            if record is not None and "--help" not in option.opts:
                parts.append(f"- `{record[0]}`: {_cell(record[1])}")
        parts.append("")
    return "\n".join(parts)


GENERATED = {
    "<!-- clearline:diagnostics -->": diagnostics_markdown,
    "<!-- clearline:benchmarks -->": benchmarks_markdown,
    "<!-- clearline:commands -->": commands_markdown,
}


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each generation marker of a page with the text generated for it."""
    for marker, generate in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
