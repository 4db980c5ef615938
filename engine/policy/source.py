"""Safe YAML reading: plain data plus the line and column of every node.

Policies are data, so only the YAML 1.2 core scalars are accepted (`yes`, `no`, `on`, `off`
stay strings, `1:20` is not sexagesimal, dates stay strings for the model to parse), custom
tags are errors, duplicate keys are errors, and size, depth and alias expansion are capped so a
YAML bomb is refused instead of exhausting memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import yaml

from clearline.engine.errors import Diagnostic
from clearline.engine.errors import Path as Path
from clearline.engine.policy.yaml_problems import explain, full_width_problems

MAX_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


_BaseLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_CORE_RESOLVERS: list[tuple[str, re.Pattern[str], str]] = [
    ("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), "tTfF"),
    ("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
        "-+.0123456789",
    ),
    ("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), "~nN\0"),
]


class _CoreLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe loader whose implicit scalars follow the YAML 1.2 core schema."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}


for _tag, _regexp, _first in _CORE_RESOLVERS:
    for _ch in _first:
        _CoreLoader.yaml_implicit_resolvers.setdefault(None if _ch == "\0" else _ch, []).append(
            (_tag, _regexp)
        )

_CORE_PATTERNS = {tag: regexp for tag, regexp, _ in _CORE_RESOLVERS}

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


@dataclass(frozen=True)
class SourceMap:
    """Where each node of a loaded document stands in its file (1-based line and column)."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """The position of the node at `path`, or of its nearest located ancestor."""
        probe = tuple(path)
        if key and probe in self.keys:
            return self.keys[probe]
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), (1, 1))

    def diagnostic(self, path: Path, code: str, message: str, *, key: bool = False) -> Diagnostic:
        """A diagnostic located at the node of `path`."""
        line, column = self.locate(path, key=key)
        return Diagnostic(self.file, line, column, code, message)


@dataclass(frozen=True)
class Document:
    """A YAML document as plain data with its source map, or the reasons it could not be read."""

    data: Any
    source: SourceMap
    diagnostics: tuple[Diagnostic, ...] = ()


class _Builder:
    """Turns a composed node tree into plain data, recording marks and rejecting unsafe YAML."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.nodes = 0
        self.diagnostics: list[Diagnostic] = []

    def _error(self, node: yaml.Node, code: str, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(
                self.source.file,
                node.start_mark.line + 1,
                node.start_mark.column + 1,
                code,
                message,
            )
        )

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Refused(
                node, "E007", f"document expands to more than {MAX_NODES} nodes (aliases included)"
            )
        if depth > MAX_DEPTH:
            raise _Refused(node, "E008", f"document is nested deeper than {MAX_DEPTH} levels")
        self.source.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _ALLOWED_TAGS:
            self._error(node, "E003", f"YAML tag `{node.tag}` is not allowed: policies are data")
            return None
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            merged: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self._error(key_node, "E004", "mapping keys must be plain names")
                    continue
                key = str(key_node.value)
                if key == "<<" and not key_node.style:
                    # YAML merge key: explicit keys of this mapping win over merged ones.
                    self._merge(value_node, path, depth, merged)
                    continue
                if key in result:
                    self._error(key_node, "E005", f"duplicate key `{key}`")
                    continue
                self.source.keys[(*path, key)] = (
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                )
                result[key] = self.build(value_node, (*path, key), depth + 1)
            for key, value in merged.items():
                result.setdefault(key, value)
            return result
        self._error(node, "E003", "unsupported YAML node")  # pragma: no cover - exhaustive above
        return None

    def _merge(self, node: yaml.Node, path: Path, depth: int, into: dict[str, Any]) -> None:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self._error(source, "E004", "`<<` merges mappings only")
                continue
            value = self.build(source, path, depth + 1)
            if isinstance(value, dict):
                for key, item in value.items():
                    into.setdefault(key, item)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        value = str(node.value)
        tag = node.tag
        core = _CORE_PATTERNS.get(tag)
        if core is not None and not core.match(value):
            # An explicit tag (`!!bool yes`, `!!float nan`) may only say what the core schema
            # would read anyway: otherwise `yes` would silently become false.
            kind = tag.rsplit(":", 1)[1]
            self._error(
                node, "E003", f"`!!{kind}` on `{value}`, which YAML 1.2 does not read as {kind}"
            )
            return None
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag == "tag:yaml.org,2002:bool":
            return value.lower() == "true"
        if tag == "tag:yaml.org,2002:int":
            try:
                return int(value)
            except ValueError:
                self._error(node, "E006", f"`{value}` is not a decimal integer")
                return None
        if tag == "tag:yaml.org,2002:float":
            try:
                number = float(value)
            except ValueError:
                self._error(node, "E006", f"`{value}` is not a decimal number")
                return None
            if not math.isfinite(number):  # `1e999` reads as infinity
                self._error(node, "E006", f"`{value}` is too large for a number")
                return None
            return number
        return value


class _Refused(Exception):
    """A document too large or too deep to read: stop at once, located at the node."""

    def __init__(self, node: yaml.Node, code: str, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.code = code


def read_yaml(text: str | bytes, file: str) -> Document:
    """Parse one YAML document safely; problems come back as diagnostics, never as exceptions."""
    source = SourceMap(file)

    def fail(line: int, column: int, code: str, message: str) -> Document:
        return Document(None, source, (Diagnostic(file, line, column, code, message),))

    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            return fail(1, 1, "E007", f"file is larger than {MAX_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            return fail(1, 1, "E000", f"file is not valid UTF-8 (byte {exc.start})")
    if len(text) > MAX_BYTES:
        return fail(1, 1, "E007", f"file is larger than {MAX_BYTES} bytes")
    if "\0" in text:
        return fail(1, 1, "E000", "file contains a NUL character")
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        explained = explain(text, line, column, problem)
        if explained is not None:
            # The author's likely mistake, in words, at the line they made it.
            return Document(
                None,
                source,
                (
                    Diagnostic(
                        file,
                        explained.line,
                        explained.column,
                        explained.code,
                        explained.message,
                        help=explained.help,
                    ),
                ),
            )
        return fail(line, column, "E001", f"YAML syntax error: {problem}")
    except yaml.YAMLError as exc:
        return fail(1, 1, "E001", f"YAML error: {exc}")
    except RecursionError:
        return fail(1, 1, "E008", f"document is nested deeper than {MAX_DEPTH} levels")
    finally:
        loader.dispose()
    if node is None:
        return fail(1, 1, "E002", "the file is empty")
    builder = _Builder(source)
    try:
        data = builder.build(node, (), 0)
    except _Refused as exc:
        mark = exc.node.start_mark
        return fail(mark.line + 1, mark.column + 1, exc.code, str(exc))
    # `[gold， silver]` parses, as one item: the full-width comma is reported where it stands.
    for found in full_width_problems(text):
        builder.diagnostics.append(
            Diagnostic(file, found.line, found.column, found.code, found.message, help=found.help)
        )
    return Document(data, source, tuple(builder.diagnostics))


def diagnostic_at(file: str, path: Path, code: str, message: str) -> Diagnostic:
    """A diagnostic at a node of a file already loaded (read again only to find the line)."""
    try:
        with open(file, "rb") as handle:
            text = handle.read()
    except OSError:
        return Diagnostic(file, 1, 1, code, message)
    return read_yaml(text, file).source.diagnostic(path, code, message)
