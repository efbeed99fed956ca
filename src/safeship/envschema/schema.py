"""env.schema.toml: a table per environment, each variable an inline table of rules.

    [base]
    DATABASE_URL = { type = "string", startswith = "postgresql://", secret = true }

    [production]
    extends = "base"
    NEXT_PUBLIC_GA_ID = { type = "string", pattern = "^G-[A-Z0-9]+$", public = true }

An environment that ``extends`` another gets all of its variables (resolved through the whole
chain); a variable it defines again replaces the inherited definition whole. The schema itself
is validated and every problem is reported at once, each as ``file:line: key: message``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from safeship._toml import KeyIndex, toml_syntax_problem
from safeship.envschema.limits import (
    MAX_EXTENDS_DEPTH,
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_TABLES,
    MAX_SCHEMA_VARIABLES,
    InputRefused,
    read_limited,
    size,
)
from safeship.envschema.patterns import compile_pattern
from safeship.envschema.problems import EnvSchemaError
from safeship.envschema.types import (
    ALL_KEYS,
    COMMON_KEYS,
    CONSTRAINTS,
    TYPES,
    ValueProblem,
    VariableSpec,
    coerce_bound,
    coerce_default,
    parse_value,
)

SCHEMA_FILENAME = "env.schema.toml"
EXTENDS = "extends"
# Names a shell, a Dockerfile and every platform accept.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Frameworks inline variables with these prefixes into the JavaScript sent to browsers
# (Next.js, Vite, Create React App): such a variable is public whatever the schema says.
BROWSER_PREFIXES = ("NEXT_PUBLIC_", "VITE_", "REACT_APP_")
# A secret rotation gives releases the value it replaced in NAME + this (docs/secrets.md).
PREVIOUS_SUFFIX = "_PREVIOUS"


@dataclass(frozen=True)
class EnvironmentSchema:
    """The variables of one environment, ``extends`` resolved, in definition order."""

    name: str
    variables: dict[str, VariableSpec]
    # This environment, then what it extends, and so on: ("production", "base").
    chain: tuple[str, ...] = ()

    @property
    def secret_names(self) -> frozenset[str]:
        return frozenset(name for name, spec in self.variables.items() if spec.secret)

    def previous_slots(self) -> dict[str, VariableSpec]:
        """NAME -> the NAME_PREVIOUS implied for each secret variable that does not declare
        one: where a rotation puts the replaced value during its overlap. NAME's rules,
        optional, no default, secret."""
        return {
            name: replace(
                spec, name=name + PREVIOUS_SUFFIX, optional=True, default=None, secret=True
            )
            for name, spec in self.variables.items()
            if spec.secret and name + PREVIOUS_SUFFIX not in self.variables
        }


@dataclass(frozen=True)
class Schema:
    path: Path
    environments: dict[str, EnvironmentSchema] = field(default_factory=dict)

    def environment(self, name: str) -> EnvironmentSchema:
        if name not in self.environments:
            known = ", ".join(self.environments) or "none"
            raise EnvSchemaError(
                [f"{self.path.name}: {name}: no [{name}] table in the schema (defined: {known})"]
            )
        return self.environments[name]

    def all_variables(self) -> dict[str, VariableSpec]:
        """Every variable of every environment, first definition first (for .env.example)."""
        merged: dict[str, VariableSpec] = {}
        for env in self.environments.values():
            for name, spec in env.variables.items():
                merged.setdefault(name, spec)
        return merged


def load_schema(path: Path) -> Schema:
    try:
        raw = read_limited(path, MAX_SCHEMA_BYTES)
    except FileNotFoundError:
        raise EnvSchemaError([f"{path}: schema file not found"]) from None
    except InputRefused as exc:
        raise EnvSchemaError([f"{path}: {exc}"]) from None
    except OSError as exc:
        raise EnvSchemaError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EnvSchemaError([f"{path.name}:{line}: syntax: not valid UTF-8"]) from None
    return parse_schema(source, path)


def parse_schema(source: str, path: Path | str = SCHEMA_FILENAME) -> Schema:
    path = Path(path)
    if len(source) > MAX_SCHEMA_BYTES:
        raise EnvSchemaError(
            [f"{path.name}: is larger than {size(MAX_SCHEMA_BYTES)}, the most safeship reads here"]
        )
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise EnvSchemaError([toml_syntax_problem(exc, path.name)]) from None
    except RecursionError:  # arrays nested thousands deep
        raise EnvSchemaError([f"{path.name}: syntax: values nested too deeply"]) from None
    return _SchemaParser(source, path).parse(data)


class _SchemaParser:
    """Collects every problem of one schema file before giving up."""

    def __init__(self, source: str, path: Path) -> None:
        self.source = source
        self.path = path
        self.problems: list[str] = []
        self._index: KeyIndex | None = None

    def problem(self, key: tuple[str, ...], message: str) -> None:
        if self._index is None:  # one pass over the file, whatever the number of problems
            self._index = KeyIndex(self.source)
        line = self._index.line(key)
        self.problems.append(f"{self.path.name}:{line or '?'}: {'.'.join(key)}: {message}")

    def parse(self, data: Mapping[str, Any]) -> Schema:
        if len(data) > MAX_SCHEMA_TABLES:
            table = list(data)[MAX_SCHEMA_TABLES]
            self.problem(
                (table,), f"more than {MAX_SCHEMA_TABLES} tables; a schema may have at most that"
            )
            raise EnvSchemaError(self.problems)
        count = 0
        for table, content in data.items():
            count += len(content) if isinstance(content, dict) else 0
            if count > MAX_SCHEMA_VARIABLES:
                self.problem(
                    (table,),
                    f"more than {MAX_SCHEMA_VARIABLES} variables in the schema; "
                    "it may have at most that",
                )
                raise EnvSchemaError(self.problems)
        own: dict[str, dict[str, VariableSpec]] = {}
        parents: dict[str, str] = {}
        for table, content in data.items():
            if not isinstance(content, dict):
                self.problem((table,), "must be a table of variables, like [base]")
                continue
            own[table] = {}
            for key, value in content.items():
                if key == EXTENDS:
                    if isinstance(value, str):
                        parents[table] = value
                    else:
                        self.problem((table, key), "must be the name of another table")
                    continue
                spec = self.variable(table, key, value)
                if spec is not None:
                    own[table][key] = spec
        chains = self.resolve_extends(own, parents)
        environments: dict[str, EnvironmentSchema] = {}
        for table, chain in chains.items():
            variables: dict[str, VariableSpec] = {}
            for ancestor in reversed(chain):
                for name, spec in own[ancestor].items():
                    inherited = variables.get(name)
                    if inherited is not None and inherited.secret and not spec.secret:
                        self.problem(
                            (ancestor, name),
                            f"secret in [{inherited.table}]: a redefinition must keep "
                            "secret = true (its values would be shown and stored)",
                        )
                    variables[name] = spec
            environments[table] = EnvironmentSchema(table, variables, chain)
        if self.problems:
            raise EnvSchemaError(self.problems)
        return Schema(self.path, environments)

    def resolve_extends(
        self, own: Mapping[str, object], parents: Mapping[str, str]
    ) -> dict[str, tuple[str, ...]]:
        """Each table's chain (itself, its parent, ...), in time linear in the number of tables.

        Each table is walked once: a walk stops at a table already resolved (or already found
        broken). An unknown parent, a cycle and a chain deeper than MAX_EXTENDS_DEPTH are each
        reported once, at the table that causes it; the tables that extend a broken one are not
        reported again.
        """
        chains: dict[str, tuple[str, ...]] = {}
        broken: set[str] = set()
        for table in own:
            walk: list[str] = []
            position: dict[str, int] = {}
            current = table
            base: tuple[str, ...] | None
            while True:
                if current in chains:
                    base = chains[current]
                    break
                if current in broken:
                    base = None
                    break
                if current in position:
                    cycle = walk[position[current] :]
                    path = " → ".join([*cycle, current])
                    self.problem((cycle[-1], EXTENDS), f"extends forms a cycle: {path}")
                    base = None
                    break
                if current not in own:
                    child = walk[-1]
                    known = ", ".join(t for t in own if t != child) or "none"
                    self.problem(
                        (child, EXTENDS),
                        f"extends {current!r}, which is not a table of this schema "
                        f"(tables: {known})",
                    )
                    base = None
                    break
                position[current] = len(walk)
                walk.append(current)
                if current not in parents:
                    base = ()
                    break
                current = parents[current]
            for name in reversed(walk):
                if base is not None and len(base) >= MAX_EXTENDS_DEPTH:
                    self.problem(
                        (name, EXTENDS),
                        f"makes a chain longer than {MAX_EXTENDS_DEPTH} tables "
                        f"({' → '.join((name, *base[:3]))} → ...); extends may go at most "
                        f"{MAX_EXTENDS_DEPTH} tables deep",
                    )
                    base = None
                if base is None:
                    broken.add(name)
                    continue
                base = (name, *base)
                chains[name] = base
        return {table: chains[table] for table in own if table in chains}

    def variable(self, table: str, name: str, rules: Any) -> VariableSpec | None:
        key = (table, name)
        if not VARIABLE_NAME.fullmatch(name):
            self.problem(key, "not a valid variable name (letters, digits and _, not first digit)")
            return None
        if not isinstance(rules, dict):
            self.problem(key, 'must be an inline table of rules, like { type = "string" }')
            return None
        before = len(self.problems)
        type_name = rules.get("type")
        if type_name is None:
            self.problem((*key, "type"), f"required key is missing (one of {', '.join(TYPES)})")
            return None
        if type_name not in TYPES:
            self.problem((*key, "type"), f"unknown type {type_name!r} (one of {', '.join(TYPES)})")
            return None
        allowed = COMMON_KEYS | CONSTRAINTS[type_name]
        for rule in rules:
            if rule not in ALL_KEYS:
                close = difflib.get_close_matches(rule, sorted(ALL_KEYS), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problem((*key, rule), f"unknown key{hint}")
            elif rule not in allowed:
                types = [t for t in TYPES if rule in CONSTRAINTS[t]]
                self.problem(
                    (*key, rule),
                    f"does not apply to type {type_name} (it applies to {', '.join(types)})",
                )
        fields: dict[str, Any] = {"name": name, "type": type_name, "table": table}
        for flag in ("optional", "secret", "public"):
            if flag in rules:
                if isinstance(rules[flag], bool):
                    fields[flag] = rules[flag]
                else:
                    self.problem((*key, flag), "must be true or false")
        if "description" in rules:
            if isinstance(rules["description"], str):
                fields["description"] = rules["description"]
            else:
                self.problem((*key, "description"), "must be a string")
        self.constraints(key, type_name, rules, fields)
        if fields.get("secret") and fields.get("public"):
            self.problem(key, "cannot be both secret and public (public values reach browsers)")
        if fields.get("secret") and name.startswith(BROWSER_PREFIXES):
            self.problem(
                key, f"cannot be secret: variables named {name.split('_')[0]}_... reach browsers"
            )
        if len(self.problems) > before:
            return None
        spec = VariableSpec(**fields)
        if "default" in rules:
            return self.with_default(key, spec, rules["default"])
        return spec

    def constraints(
        self, key: tuple[str, ...], type_name: str, rules: Mapping[str, Any], fields: dict[str, Any]
    ) -> None:
        for bound in ("min", "max"):
            if bound in rules and bound in CONSTRAINTS[type_name]:
                try:
                    fields[bound] = coerce_bound(type_name, rules[bound])
                except ValueError as exc:
                    self.problem((*key, bound), str(exc))
        if "min" in fields and "max" in fields and fields["min"] > fields["max"]:
            self.problem((*key, "min"), "is greater than max")
        for length in ("min_length", "max_length"):
            if length in rules and length in CONSTRAINTS[type_name]:
                value = rules[length]
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    fields[length] = value
                else:
                    self.problem((*key, length), "must be a whole number >= 0")
        if fields.get("min_length", 0) > fields.get("max_length", float("inf")):
            self.problem((*key, "min_length"), "is greater than max_length")
        if "startswith" in rules and "startswith" in CONSTRAINTS[type_name]:
            if isinstance(rules["startswith"], str) and rules["startswith"]:
                fields["startswith"] = rules["startswith"]
            else:
                self.problem((*key, "startswith"), "must be a non-empty string")
        if "pattern" in rules and "pattern" in CONSTRAINTS[type_name]:
            pattern = rules["pattern"]
            if not isinstance(pattern, str):
                self.problem((*key, "pattern"), "must be a string (a regular expression)")
            else:
                try:
                    fields["pattern"] = compile_pattern(pattern)
                except ValueError as exc:
                    self.problem((*key, "pattern"), str(exc))
        if type_name == "enum":
            values = rules.get("values")
            if values is None:
                self.problem((*key, "values"), "an enum needs values = [...]")
            elif (
                not isinstance(values, list)
                or not values
                or not all(isinstance(v, str) and v for v in values)
            ):
                self.problem((*key, "values"), "must be a non-empty list of non-empty strings")
            elif len(set(values)) != len(values):
                self.problem((*key, "values"), "lists a value twice")
            else:
                fields["values"] = tuple(values)
        if type_name == "literal":
            value = rules.get("value")
            if value is None:
                self.problem((*key, "value"), 'a literal needs value = "..."')
            elif not isinstance(value, str) or not value:
                self.problem((*key, "value"), "must be a non-empty string (values are strings)")
            else:
                fields["value"] = value

    def with_default(self, key: tuple[str, ...], spec: VariableSpec, raw: Any) -> VariableSpec:
        where = (*key, "default")
        if spec.secret:
            self.problem(where, "a secret cannot have a default (it would be committed here)")
            return spec
        try:
            text = coerce_default(spec, raw)
        except ValueError as exc:
            self.problem(where, str(exc))
            return spec
        if text == "":
            self.problem(where, "an empty default counts as missing; use optional = true")
            return spec
        try:
            parse_value(spec, text)
        except ValueProblem as exc:
            self.problem(where, f"the default {exc.message}")
            return spec
        return replace(spec, default=text)
