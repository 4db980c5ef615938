"""YAML syntax errors in words: what a policy author most likely typed, at the line they typed it.

PyYAML reports where its parser gave up, in parser words ("could not find expected ':'"), often
on the line after the mistake. The mistakes non-programmers make are few and recognisable from
the text itself (a TAB, a Chinese input method's full-width punctuation, a key indented one space
off, text with `: ` that needs quotes, `key:value` without a space), so the text is read again
around the place PyYAML stopped and the first recognisable mistake is reported instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# How far above PyYAML's mark a mistake may sit: the parser notices a bad line at the next key.
_LOOK_BACK = 4

_FULL_WIDTH_COLON_KEY = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*)\s*：")
_FULL_WIDTH_COMMA = re.compile(r"[A-Za-z0-9_\]}\"']\s*，\s*[A-Za-z0-9_\[{\"']")
# A curly quote where a value starts: `en: “Limit: 50%”` (inside Chinese prose they are text).
_CURLY_QUOTES = re.compile(r"(?:^\s*-\s*|:\s+|[{\[,]\s*)([“‘])")
_NO_SPACE_KEY = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*):(?=[^\s:/])")
_KEY = re.compile(r"^(\s*(?:-\s+)?)([^\s#'\"{\[][^:#]*?):(?:\s|$)")


@dataclass(frozen=True)
class YamlProblem:
    """A YAML mistake explained: 1-based line and column, code, message and the fix."""

    line: int
    column: int
    code: str
    message: str
    help: str | None = None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _outside_quotes(line: str, index: int) -> bool:
    """Whether position `index` of a line is outside straight YAML quotes."""
    quote = ""
    for ch in line[:index]:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
    return not quote


def _tab(lines: list[str], upto: int) -> YamlProblem | None:
    for number, line in enumerate(lines[:upto], 1):
        head = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in head:
            return YamlProblem(
                number,
                head.index("\t") + 1,
                "E010",
                "a TAB character in the indentation: YAML indents with spaces only",
                "replace the TAB with spaces, lined up with the keys above (editors can "
                "'convert indentation to spaces')",
            )
    return None


def _punctuation(number: int, line: str) -> YamlProblem | None:
    match = _FULL_WIDTH_COLON_KEY.match(line)
    if match:
        column = line.index("：", match.start(2)) + 1
        return YamlProblem(
            number,
            column,
            "E011",
            f"full-width colon `：` after `{match.group(2)}`: YAML needs an ASCII colon",
            f"write `{match.group(2)}: ` (an ASCII `:` and a space); a Chinese input method "
            "types `：`, switch it to English punctuation for keys",
        )
    match = _FULL_WIDTH_COMMA.search(line)
    if match and _outside_quotes(line, match.start()) and ("[" in line or "{" in line):
        column = line.index("，", match.start()) + 1
        return YamlProblem(
            number,
            column,
            "E011",
            "full-width comma `，` between items: YAML separates items with an ASCII comma",
            "write `, ` (an ASCII comma and a space) between the items",
        )
    match = _CURLY_QUOTES.search(line)
    if match:
        return YamlProblem(
            number,
            match.start(1) + 1,
            "E011",
            f"curly quote `{match.group(1)}` is not a YAML quote, so the text is not quoted",
            "quote text with straight quotes: \"like this\" (or 'like this')",
        )
    return None


def _no_space(number: int, line: str) -> YamlProblem | None:
    match = _NO_SPACE_KEY.match(line)
    if match is None or not _outside_quotes(line, match.end(2)):
        return None
    key = match.group(2)
    return YamlProblem(
        number,
        match.end(2) + 1,
        "E014",
        f"no space after the colon of `{key}`: YAML reads `{line.strip()}` as one piece of text",
        f"write `{key}: {line[match.end(2) + 1 :].strip()}` (a space after the colon)",
    )


def _text_with_colon(number: int, line: str) -> YamlProblem | None:
    match = _KEY.match(line)
    if match is None:
        return None
    rest = line[match.end() :]
    inner = rest.find(": ")
    if inner < 0 or rest.lstrip().startswith(("'", '"', "{", "[", "|", ">")):
        return None
    key = match.group(2).strip()
    value = rest.strip()
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return YamlProblem(
        number,
        match.end() + inner + 1,
        "E013",
        f"the text of `{key}` contains `: `, which YAML reads as the start of another key",
        f'put the text in quotes: {key}: "{escaped}"',
    )


def _open_indents(lines: list[str], before: int) -> list[int]:
    """The indentation of every block still open at line `before` (1-based), outermost first."""
    stack: list[int] = [0]
    for line in lines[: before - 1]:
        if not _content(line):
            continue
        indent = _indent(line)
        while stack and stack[-1] > indent:
            stack.pop()
        if not stack or stack[-1] < indent:
            stack.append(indent)
        item = re.match(r"^(\s*-\s+)\S", line)
        if item:
            # A sequence item's keys line up after the dash.
            stack.append(len(item.group(1)))
    return stack


def _indentation(lines: list[str], number: int) -> YamlProblem | None:
    line = lines[number - 1]
    if not _content(line):
        return None
    indent = _indent(line)
    opened = _open_indents(lines, number)
    previous = next((lines[i] for i in range(number - 2, -1, -1) if _content(lines[i])), "")
    opens_block = previous.rstrip().endswith((":", "|", ">", "-"))
    if indent in opened or (opens_block and indent > opened[-1]):
        return None
    above = _indent(previous)
    nearest = min(opened, key=lambda level: (abs(level - indent), level != above, level))
    return YamlProblem(
        number,
        indent + 1,
        "E012",
        f"this line is indented by {indent} space{'s' * (indent != 1)}, which lines up with "
        f"no key above (the line above is indented by {above})",
        f"indent it by {nearest} spaces: keys of one mapping start in the same column",
    )


def explain(text: str, line: int, column: int, problem: str) -> YamlProblem | None:
    """The author's mistake behind a PyYAML error at (line, column), when it is recognisable."""
    lines = text.splitlines()
    if not lines:
        return None
    line = max(1, min(line, len(lines)))
    found = _tab(lines, line)
    if found:
        return found
    first = max(1, line - _LOOK_BACK)
    for number in range(line, first - 1, -1):
        found = _punctuation(number, lines[number - 1])
        if found:
            return found
    for number in range(line, first - 1, -1):
        found = _no_space(number, lines[number - 1])
        if found:
            return found
    if "mapping values are not allowed" in problem:
        found = _text_with_colon(line, lines[line - 1])
        if found:
            return found
    return _indentation(lines, line)


def full_width_problems(text: str) -> list[YamlProblem]:
    """Full-width punctuation where YAML needs ASCII, in a document that still parsed."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = _FULL_WIDTH_COMMA.search(line)
        if match is None or not _outside_quotes(line, match.start()):
            continue
        opened = line.rfind("[", 0, match.start())
        if opened >= 0 and "]" not in line[opened : match.start()]:
            # `[gold， silver]` parses as one item `gold， silver`; Chinese prose in a text
            # (`{zh-CN: 评分，越高越好}`) has no `[` and is left alone.
            found = _punctuation(number, line)
            if found:
                problems.append(found)
    return problems
