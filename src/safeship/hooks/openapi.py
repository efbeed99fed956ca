"""API contract: an OpenAPI spec at HEAD against its base version; breaking changes listed.

Breaking: a removed path or method; a removed response field; a new required request field or
parameter; a narrowed type (a request field or parameter accepting less: another type, fewer
enum values; a response field that may now hold a type clients did not expect). ``$ref`` to
``#/components/...`` is followed (cycles stop), ``allOf`` parts are merged.
"""

from __future__ import annotations

import json
from typing import Any

from safeship.hooks.gitdiff import Change
from safeship.hooks.result import CheckResult, matches
from safeship.hooks.settings import OpenAPISettings

NAME = "openapi"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_MAX_DEPTH = 20
Spec = dict[str, Any]


class SpecError(Exception):
    """The spec cannot be parsed."""


def parse_spec(text: bytes, path: str) -> Spec:
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml  # type: ignore[import-untyped]

            data = yaml.safe_load(text)
    except Exception as exc:  # json and yaml errors: one line, with the position
        first = str(exc).strip().splitlines()
        raise SpecError(
            f"{path}: cannot parse: {first[0] if first else type(exc).__name__}"
        ) from None
    if not isinstance(data, dict):
        raise SpecError(f"{path}: not an OpenAPI document (top level is not a mapping)")
    return data


class _Differ:
    def __init__(self, old: Spec, new: Spec) -> None:
        self.old, self.new = old, new
        self.problems: list[str] = []

    def resolve(self, doc: Spec, node: Any, depth: int = 0) -> Any:
        """``node`` with its ``$ref`` followed and ``allOf`` merged."""
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < _MAX_DEPTH:
            node = _pointer(doc, node["$ref"])
            seen += 1
        if isinstance(node, dict) and isinstance(node.get("allOf"), list) and depth < _MAX_DEPTH:
            merged: dict[str, Any] = {"properties": {}, "required": []}
            for part in node["allOf"]:
                part = self.resolve(doc, part, depth + 1)
                if isinstance(part, dict):
                    merged["properties"].update(part.get("properties") or {})
                    merged["required"] += list(part.get("required") or [])
                    if "type" in part:
                        merged["type"] = part["type"]
            return merged
        return node

    def run(self) -> list[str]:
        old_paths = self.old.get("paths") or {}
        new_paths = self.new.get("paths") or {}
        for path, old_item in old_paths.items():
            if path not in new_paths:
                self.problems.append(f"removed path {path}")
                continue
            old_item = self.resolve(self.old, old_item) or {}
            new_item = self.resolve(self.new, new_paths[path]) or {}
            for method in METHODS:
                if method not in old_item:
                    continue
                where = f"{method.upper()} {path}"
                if method not in new_item:
                    self.problems.append(f"removed method {where}")
                    continue
                self.operation(where, old_item, new_item, old_item[method], new_item[method])
        return self.problems

    def operation(self, where: str, old_item: Any, new_item: Any, old: Any, new: Any) -> None:
        old, new = self.resolve(self.old, old) or {}, self.resolve(self.new, new) or {}
        old_params = self.parameters(self.old, old_item, old)
        for key, param in self.parameters(self.new, new_item, new).items():
            label = f"{where}: {key[1]} parameter {key[0]}"
            if key not in old_params:
                if param.get("required"):
                    self.problems.append(f"{label}: new required parameter")
                continue
            before = old_params[key]
            if param.get("required") and not before.get("required"):
                self.problems.append(f"{label}: now required")
            self.request_schema(
                label,
                self.resolve(self.old, before.get("schema")),
                self.resolve(self.new, param.get("schema")),
                0,
            )
        old_body = self.resolve(self.old, old.get("requestBody")) or {}
        new_body = self.resolve(self.new, new.get("requestBody")) or {}
        if new_body.get("required") and not old_body and new_body:
            self.problems.append(f"{where}: new required request body")
        for media, content in (new_body.get("content") or {}).items():
            before = (old_body.get("content") or {}).get(media)
            if before is not None:
                self.request_schema(
                    f"{where}: request",
                    self.resolve(self.old, before.get("schema")),
                    self.resolve(self.new, content.get("schema")),
                    0,
                )
        new_responses = new.get("responses") or {}
        for status, response in (old.get("responses") or {}).items():
            if not str(status).startswith("2"):
                continue
            after = self.resolve(self.new, new_responses.get(status))
            response = self.resolve(self.old, response) or {}
            if not isinstance(after, dict):
                self.problems.append(f"{where}: removed response {status}")
                continue
            for media, content in (response.get("content") or {}).items():
                new_content = (after.get("content") or {}).get(media)
                label = f"{where} {status}"
                if new_content is None:
                    self.problems.append(f"{label}: removed response content {media}")
                    continue
                self.response_schema(
                    label,
                    self.resolve(self.old, content.get("schema")),
                    self.resolve(self.new, new_content.get("schema")),
                    "",
                    0,
                )

    def parameters(self, doc: Spec, item: Any, operation: Any) -> dict[tuple[str, str], Any]:
        result: dict[tuple[str, str], Any] = {}
        for source in (item, operation):
            for param in (source or {}).get("parameters") or []:
                param = self.resolve(doc, param)
                if isinstance(param, dict) and "name" in param:
                    result[(str(param["name"]), str(param.get("in", "query")))] = param
        return result

    def request_schema(self, where: str, old: Any, new: Any, depth: int, field: str = "") -> None:
        if not isinstance(old, dict) or not isinstance(new, dict) or depth > _MAX_DEPTH:
            return
        name = f" field {field}" if field else ""
        if _types(old) and not _types(old) <= _widened(_types(new)):
            self.problems.append(f"{where}{name}: type narrowed {_show(old)} → {_show(new)}")
        if "enum" in new and set(map(str, old.get("enum") or [])) - set(map(str, new["enum"])):
            self.problems.append(f"{where}{name}: enum values removed")
        old_props = old.get("properties") or {}
        old_required = set(old.get("required") or [])
        for key, schema in (new.get("properties") or {}).items():
            child = f"{field}.{key}" if field else key
            if key in set(new.get("required") or []) and (
                key not in old_props or key not in old_required
            ):
                self.problems.append(f"{where}: new required field {child}")
            if key in old_props:
                self.request_schema(
                    where,
                    self.resolve(self.old, old_props[key]),
                    self.resolve(self.new, schema),
                    depth + 1,
                    child,
                )
        if "items" in old and "items" in new:
            self.request_schema(
                where,
                self.resolve(self.old, old["items"]),
                self.resolve(self.new, new["items"]),
                depth + 1,
                f"{field}[]",
            )

    def response_schema(self, where: str, old: Any, new: Any, field: str, depth: int) -> None:
        if not isinstance(old, dict) or not isinstance(new, dict) or depth > _MAX_DEPTH:
            return
        if field and _types(old) and not _types(new) <= _widened(_types(old)):
            self.problems.append(
                f"{where}: response field {field} type changed {_show(old)} → {_show(new)}"
            )
        new_props = new.get("properties") or {}
        for key, schema in (old.get("properties") or {}).items():
            child = f"{field}.{key}" if field else key
            if key not in new_props:
                self.problems.append(f"{where}: removed response field {child}")
                continue
            self.response_schema(
                where,
                self.resolve(self.old, schema),
                self.resolve(self.new, new_props[key]),
                child,
                depth + 1,
            )
        if "items" in old and "items" in new:
            self.response_schema(
                where,
                self.resolve(self.old, old["items"]),
                self.resolve(self.new, new["items"]),
                f"{field}[]",
                depth + 1,
            )


def _pointer(doc: Spec, ref: str) -> Any:
    if not ref.startswith("#/"):
        return {}  # an external reference: not followed
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node or {}


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    types = set(kind) if isinstance(kind, list) else ({kind} if isinstance(kind, str) else set())
    if schema.get("nullable") is True:
        types.add("null")
    return types


def _widened(types: set[str]) -> set[str]:
    """The types a value of ``types`` may be read as (an integer is a number)."""
    return types | ({"integer"} if "number" in types else set())


def _show(schema: dict[str, Any]) -> str:
    return "|".join(sorted(_types(schema))) or "any"


def breaking_changes(old: Spec, new: Spec) -> list[str]:
    """Each breaking change from ``old`` to ``new``, one line each (empty: compatible)."""
    return _Differ(old, new).run()


def run_openapi(change: Change, settings: OpenAPISettings) -> CheckResult:
    if not settings.enabled:
        return CheckResult(NAME, "skipped", ("disabled",))
    specs = [f for f in change.files if matches(f.path, settings.specs)]
    if not specs:
        return CheckResult(NAME, "skipped", ("no OpenAPI spec changed",))
    problems: list[str] = []
    for changed in specs:
        before, after = change.show(changed.path, "base"), change.show(changed.path, "head")
        if before is None:
            continue  # a new spec: nothing to break
        if after is None:
            problems.append(f"{changed.path}: spec removed")
            continue
        try:
            found = breaking_changes(
                parse_spec(before, changed.path), parse_spec(after, changed.path)
            )
        except SpecError as exc:
            problems.append(str(exc))
            continue
        problems += [f"{changed.path}: {line}" for line in found]
    if problems:
        return CheckResult(NAME, "failed", tuple(problems))
    return CheckResult(NAME, "passed", (f"{len(specs)} spec(s): no breaking change",))
