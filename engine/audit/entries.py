"""What the audit log stores: entries before they are appended, records as read back, and
the rows a batch of decisions becomes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from clearline.engine.audit.schema import AuditError
from clearline.engine.audit.writer import COLUMNS, WireRow, contents, decision_id
from clearline.engine.canonical import canonical_json, sha256_hex
from clearline.engine.decisions.compile import CompiledPolicy
from clearline.engine.decisions.decide import Decision
from clearline.engine.decisions.record import record_parts
from clearline.engine.decisions.record_layout import RecordTemplate, layout_for
from clearline.engine.model import ActionKind

KIND_DECISION = "decision"


class Entry(NamedTuple):
    """What a caller appends: one record before it is numbered, timed and chained.

    Decisions become entries with `kind="decision"`; other features (case transitions, say)
    may append their own kinds with a canonical JSON `body` of their choosing. A decision's
    entry may leave `record_id` None: the writer derives it from its other columns and its
    `input_sha256` as `decide` does (see `audit_writer.with_ids`); any other kind names its id.
    """

    kind: str
    record_id: str | None
    account_id: str | None
    action: str | None
    policy_id: str | None
    policy_version: str | None
    policy_sha256: str | None
    as_of: str | None
    body: str
    inputs: str = "{}"
    template: RecordTemplate | None = None  # a decision: the record is this template, filled
    input_sha256: str | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One stored record."""

    seq: int
    kind: str
    record_id: str
    account_id: str | None
    action: str | None
    policy_id: str | None
    policy_version: str | None
    policy_sha256: str | None
    as_of: str | None
    recorded_at: str
    template: str | None
    input_sha256: str | None
    body: str
    inputs: str
    prev_hash: str
    hash: str
    form: RecordTemplate | None = field(default=None, compare=False, repr=False)

    @property
    def document(self) -> str:
        """The record's JSON text: for a decision, its record rendered from the template."""
        if self.template is None:
            return self.body
        if self.form is None or self.form.sha256 != self.template:
            raise AuditError(f"record {self.seq}: its record template {self.template} is missing")
        return self.form.render(
            {
                "account_id": self.account_id,
                "as_of": self.as_of,
                "record_id": self.record_id,
                "input_sha256": self.input_sha256,
            },
            self.facts(),  # the trace's values, from the inputs object
        )

    def data(self) -> Any:
        """The document as JSON data (for a decision: the decision record)."""
        try:
            return json.loads(self.document)
        except ValueError:
            raise AuditError(f"{self._altered}: its document is not valid JSON") from None

    def facts(self) -> dict[str, Any]:
        """The stored inputs (redacted facts as `{"redacted": "<salted sha256>"}`)."""
        try:
            facts = json.loads(self.inputs)
        except ValueError:
            facts = None
        if not isinstance(facts, dict):
            raise AuditError(f"{self._altered}: its inputs are not a JSON object")
        return facts

    @property
    def _altered(self) -> str:
        return f"record {self.seq} (id {self.record_id}) was altered"

    @property
    def redacted_facts(self) -> tuple[str, ...]:
        """The facts stored only as salted hashes."""
        return tuple(
            name
            for name, value in self.facts().items()
            if isinstance(value, dict) and set(value) == {"redacted"}
        )


def foreign_value(row: Sequence[Any]) -> str | None:
    """What is wrong with a stored row holding a value Clearline never writes (binary data
    where text belongs: SQLite keeps numbers written to a text column as text), or None."""
    if bytes not in map(type, row):
        return None
    column = next(name for name, value in zip(COLUMNS, row, strict=True) if type(value) is bytes)
    record_id = row[2] if type(row[2]) is str else "in binary"
    return f"record {row[0]} (id {record_id}) was altered: its {column} holds binary data, not text"


def content_text(record: AuditRecord) -> str:
    """A stored record's content: everything its hash covers but seq and the chain."""
    return contents([tuple(getattr(record, name) for name in COLUMNS[1:-2])])[0]


def redacted_value(salt: str, fact: str, value_json: str) -> dict[str, str]:
    """A redacted fact value: sha256 over the log's salt, the fact name and the JSON value."""
    digest = hashlib.sha256(f"{salt}\n{fact}\n{value_json}".encode()).hexdigest()
    return {"redacted": digest}


def redacted_inputs(decision: Decision, salt: str) -> str:
    """The inputs JSON of a decision, with the policy's redacted facts hashed.

    The record's trace shows observed values from these same inputs, so they are hashed there
    too (a comparison's result still shows, which is the point of the trace). `input_sha256`
    and `decision_id` stay as `decide` made them, so the record still names the exact inputs;
    see the README for what that means for small value sets.
    """
    inputs = decision.inputs_json
    redact = layout_for(decision.compiled).redacted
    if not redact or redact.isdisjoint(decision.facts):
        return inputs
    facts = json.loads(inputs)
    for name, value in facts.items():
        if name in redact:
            facts[name] = redacted_value(salt, name, canonical_json(value))
    return canonical_json(facts)


def decision_entry(decision: Decision, salt: str) -> Entry:
    """The entry that records one decision."""
    return decision_entries((decision,), salt)[0]


def decision_entries(decisions: Iterable[Decision], salt: str) -> list[Entry]:
    """The entries of a batch of decisions, each naming its record template and input hash."""
    templates: dict[str, RecordTemplate] = {}
    return [
        # (kind, record_id, account_id, ..., as_of, body, inputs, template, input_sha256); a
        # row of a decision with unredacted inputs leaves their hash to the writer
        Entry._make((*row[:8], row[11], row[12], templates[row[9]], row[10] or sha256_hex(row[12])))
        for row in decision_rows(decisions, salt, "", templates)
    ]


def decision_rows(
    decisions: Iterable[Decision],
    salt: str,
    recorded_at: str,
    templates: dict[str, RecordTemplate],
    *,
    hash_here: bool = False,
) -> list[WireRow]:
    """The writer's rows of a batch of decisions; the record templates they name go into
    `templates` (by sha256).

    The policy's part of a row is looked up once per compiled policy, not per decision. A
    decision's id is left to the writer unless the decision holds it already, and so is its
    input hash unless the inputs are redacted (the hash is of the inputs before redaction, so
    it is made here then, while they are at hand). With `hash_here` both are made here (when
    the writer process is the slower side). The rows are built straight from the decisions,
    without an `Entry` between: per record, that cost a tenth of the caller's side of an
    append.
    """
    rows: list[WireRow] = []
    add = rows.append
    actions = {kind: kind.value for kind in ActionKind}
    compiled: CompiledPolicy | None = None
    p_id = p_version = p_sha = ""
    redact: frozenset[str] = frozenset()
    last: RecordTemplate | None = None
    for decision in decisions:
        if decision.compiled is not compiled:
            compiled = decision.compiled
            metadata = compiled.policy.metadata
            p_id, p_version, p_sha = metadata.id, metadata.version, compiled.sha256
            redact = layout_for(compiled).redacted
        as_of, inputs, template = record_parts(decision)
        cache = decision.__dict__
        input_sha256 = cache.get("input_sha256")
        record_id = cache.get("decision_id")
        if hash_here and record_id is None:
            # kept on the decision: a caller that prints the record next needs both again
            if input_sha256 is None:
                input_sha256 = cache["input_sha256"] = sha256_hex(inputs)
            record_id = cache["decision_id"] = decision_id(
                p_sha, decision.account_id, as_of, input_sha256
            )
        if redact and not redact.isdisjoint(decision.facts):
            if input_sha256 is None:
                input_sha256 = cache["input_sha256"] = sha256_hex(inputs)
            inputs = redacted_inputs(decision, salt)
        if template is not last:
            templates[template.sha256] = last = template
        add(
            (
                KIND_DECISION,
                record_id,
                decision.account_id,
                actions[decision.action],
                p_id,
                p_version,
                p_sha,
                as_of,
                recorded_at,
                last.sha256,
                input_sha256,
                "",
                inputs,
            )
        )
    return rows
