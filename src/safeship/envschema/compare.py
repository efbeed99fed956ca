"""Comparing variables: two environments (diff), snapshots over time (audit), live vs recorded.

A value is kept and shown in clear only when the schema declares its variable and not as secret,
and the value does not look like a credential on its own. Every other value (secrets, and
variables the schema does not know, which might be secrets) is represented by its fingerprint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from safeship.envschema.fingerprint import FingerprintKey
from safeship.envschema.schema import EnvironmentSchema
from safeship.envschema.types import VariableSpec
from safeship.redaction import MASK, looks_like_credential

# The shape of one variable in a snapshot (and in the registry's JSON column).
Entry = dict[str, Any]

_SHOWN_CHARS = 60


def in_clear(name: str, value: str, specs: Mapping[str, VariableSpec]) -> bool:
    """Whether ``value`` of ``name`` may be stored and shown as it is."""
    spec = specs.get(name)
    return spec is not None and not spec.secret and not looks_like_credential(value)


def entries(
    values: Mapping[str, str], specs: Mapping[str, VariableSpec], key: FingerprintKey
) -> dict[str, Entry]:
    """Each variable as a snapshot stores it: a value in clear, or a fingerprint, never both."""
    result: dict[str, Entry] = {}
    for name in sorted(values):
        value = values[name]
        if in_clear(name, value, specs):
            result[name] = {"value": value, "fingerprint": None, "secret": False}
        else:
            result[name] = {"value": None, "fingerprint": key.fingerprint(value), "secret": True}
    return result


def show(entry: Entry) -> str:
    """How one stored variable is printed: its value, or the mask and its fingerprint."""
    if entry.get("secret"):
        return f"{MASK} (fingerprint {entry.get('fingerprint')})"
    value = str(entry.get("value"))
    return repr(value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "…")


def same(a: Entry, b: Entry) -> bool:
    if a.get("secret") != b.get("secret"):
        return False
    if a.get("secret"):
        return bool(a.get("fingerprint") == b.get("fingerprint"))
    return bool(a.get("value") == b.get("value"))


@dataclass(frozen=True)
class Change:
    """One variable that differs between two sets of entries."""

    variable: str
    kind: str  # "added", "removed", "changed"
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"variable": self.variable, "kind": self.kind, "detail": self.detail}


def changes(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> list[Change]:
    """What changed from ``old`` to ``new``, by variable name."""
    result: list[Change] = []
    for name in sorted(old.keys() | new.keys()):
        if name not in old:
            result.append(Change(name, "added", show(new[name])))
        elif name not in new:
            result.append(Change(name, "removed", f"was {show(old[name])}"))
        elif not same(old[name], new[name]):
            result.append(Change(name, "changed", f"{show(old[name])} → {show(new[name])}"))
    return result


# -- diff of two environments ---------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    variable: str
    kind: str  # "only_in_a", "only_in_b", "value", "schema"
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"variable": self.variable, "kind": self.kind, "detail": self.detail}


def diff(
    a: tuple[str, Mapping[str, str], EnvironmentSchema | None],
    b: tuple[str, Mapping[str, str], EnvironmentSchema | None],
    key: FingerprintKey,
) -> list[Difference]:
    """Key by key: set on one side only, different values, different schema rules."""
    (a_name, a_values, a_schema), (b_name, b_values, b_schema) = a, b
    a_specs = a_schema.variables if a_schema else {}
    b_specs = b_schema.variables if b_schema else {}
    # Secret on either side means secret on both: a value must not show because the other
    # environment's schema forgot to mark it.
    specs = _strictest(a_specs, b_specs)
    a_entries = entries(a_values, specs, key)
    b_entries = entries(b_values, specs, key)
    result: list[Difference] = []
    for name in sorted(a_entries.keys() | b_entries.keys()):
        if name not in b_entries:
            result.append(
                Difference(name, "only_in_a", f"set in {a_name} only: {show(a_entries[name])}")
            )
        elif name not in a_entries:
            result.append(
                Difference(name, "only_in_b", f"set in {b_name} only: {show(b_entries[name])}")
            )
        elif not same(a_entries[name], b_entries[name]):
            result.append(
                Difference(
                    name,
                    "value",
                    f"{a_name}: {show(a_entries[name])} · {b_name}: {show(b_entries[name])}",
                )
            )
    if a_schema is not None and b_schema is not None:
        result += schema_differences(a_schema, b_schema)
    return result


def _strictest(
    a: Mapping[str, VariableSpec], b: Mapping[str, VariableSpec]
) -> dict[str, VariableSpec]:
    merged = dict(a)
    for name, spec in b.items():
        if name not in merged or spec.secret:
            merged[name] = spec
    return merged


def schema_differences(a: EnvironmentSchema, b: EnvironmentSchema) -> list[Difference]:
    result: list[Difference] = []
    for name in sorted(a.variables.keys() | b.variables.keys()):
        if name not in b.variables:
            result.append(Difference(name, "schema", f"only in the schema of {a.name}"))
        elif name not in a.variables:
            result.append(Difference(name, "schema", f"only in the schema of {b.name}"))
        else:
            ra, rb = a.variables[name].rules(), b.variables[name].rules()
            if ra != rb:
                parts = [
                    f"{rule}: {_rule(ra.get(rule))} → {_rule(rb.get(rule))}"
                    for rule in sorted(ra.keys() | rb.keys())
                    if ra.get(rule) != rb.get(rule)
                ]
                result.append(
                    Difference(name, "schema", f"{a.name} → {b.name}: " + "; ".join(parts))
                )
    return result


def _rule(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# -- snapshots over time --------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotView:
    """What audit and drift need of a stored snapshot."""

    id: str
    taken_at: datetime
    taken_by: str
    key_id: str | None
    variables: Mapping[str, Entry]


@dataclass
class AuditEntry:
    snapshot: SnapshotView
    changes: list[Change] = field(default_factory=list)
    first: bool = False
    # Set when the fingerprint key differs from the previous snapshot's: secrets not comparable.
    note: str | None = None


def audit(snapshots: Sequence[SnapshotView]) -> list[AuditEntry]:
    """The changes each snapshot recorded against the one before it (``snapshots`` oldest first)."""
    result: list[AuditEntry] = []
    previous: SnapshotView | None = None
    for snap in snapshots:
        if previous is None:
            result.append(AuditEntry(snap, first=True))
        else:
            result.append(compare_snapshot(previous, snap))
        previous = snap
    return result


def compare_snapshot(old: SnapshotView, new: SnapshotView) -> AuditEntry:
    if old.key_id == new.key_id:
        return AuditEntry(new, changes(old.variables, new.variables))
    # Fingerprints made with different keys differ whatever the values: compare only the
    # variables in clear, and say so.
    found = [
        c
        for c in changes(old.variables, new.variables)
        if not (c.kind == "changed" and old.variables[c.variable].get("secret"))
    ]
    note = "the fingerprint key changed: changes of secret values cannot be seen"
    return AuditEntry(new, found, note=note)
