"""Generate docs/reference.md: every key of safeship.toml, from the pydantic models.

    python scripts/gen_reference.py           # write docs/reference.md
    python scripts/gen_reference.py --check   # exit 1 if the checked-in file is stale

Each key's type, default and bounds come from the models; its description from the comment
lines right above the field in the model's source (the models document themselves that way),
and a table's from its class docstring. `make docs` runs it; tests/unit/test_reference.py fails
when the checked-in page differs from what this prints.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import json
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "reference.md"

HEADER = """\
# safeship.toml reference

Every key of `safeship.toml`, generated from the configuration models by
`scripts/gen_reference.py` (`make docs`); a test fails when this page is stale. Edit the
comments above the fields in `src/safeship/`, not this file.

Unknown keys are errors everywhere (a typo is reported at its file and line). `<name>` stands
for a name you choose (an environment's, a check's). Tables that hold one of several kinds
(`target`, `router`, a health check) are listed once per `type`.
"""


# For keys whose model has no comment above them (the comment, when there is one, wins).
FALLBACK = {
    "name": "A name: the project's, or this item's (shown in output and the registry).",
    "RegistrySettings.url": "The deployment registry: sqlite:///path (relative to "
    "safeship.toml) or postgresql://user@host/dbname, shared by a team's runners.",
    "url": "The URL to check (${VARIABLES} are taken from the environment).",
    "token_env": "The environment variable that holds the token (never the token: the file "
    "is committed).",
    "repo": "owner/name of the GitHub repository.",
    "workflow": "The workflow file that deploys (in .github/workflows/).",
    "ref": "The branch or tag the workflow runs on.",
    "branch": "The branch the pipeline runs on.",
    "api_url": "The API's base URL (GitHub Enterprise, or a test server).",
    "project_slug": "CircleCI's project slug: gh/org/repo, or circleci/ORG_ID/PROJECT_ID.",
    "status_url": "The provider's status API, asked when a run fails (an outage fails over).",
    "recent_runs": "How many of the newest runs are searched for the one a dispatch started.",
    "request_timeout": "Seconds to wait for one HTTP request to the provider's API.",
    "retries": "How many times a failed request is retried, with backoff.",
    "max_retry_wait": "The longest wait between retries, in seconds (a longer Retry-After "
    "gives up).",
    "poll_interval": "Seconds between two polls of a deployment's or run's status.",
    "deploy_timeout": "Seconds a platform deployment may take before it counts as failed.",
    "run_timeout": "Seconds a CI run may take before it counts as failed.",
    "start_timeout": "Seconds a release has to answer its health check after it starts.",
    "stop_timeout": "Seconds between SIGTERM and SIGKILL when a release is stopped.",
    "env": "Extra environment variables for the command (values are not secrets: use the "
    "environment for those).",
    "cwd": "Working directory of the command, relative to safeship.toml (default: its directory).",
    "project_id": "The Railway project's id.",
    "environment_id": "The Railway environment's id.",
    "service_id": "The Railway service's id.",
    "deploy": "Argument list that deploys {version}; exit 0 when done.",
    "rollback": "Argument list that puts {version} (the previous good one) back.",
    "stop": "Argument list that stops {version}.",
    "timeout": "Seconds the command (or request) may take.",
    "status_timeout": "Seconds the status command may take.",
    "pause_timeout": "Seconds a paused step waits for promote/abort before rolling back.",
    "type": "Which kind of table this is.",
}


def _comments(cls: type) -> dict[str, str]:
    """Field name -> the comment lines right above its definition, for ``cls`` and its bases."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, BaseModel)) or klass is BaseModel:
            continue
        try:
            lines = inspect.getsource(klass).splitlines()
        except (OSError, TypeError):
            continue
        pending: list[str] = []
        for line in lines[1:]:
            stripped = line.strip()
            indent = len(line) - len(line.lstrip())
            if stripped.startswith("#") and indent == 4:
                pending.append(stripped.lstrip("#").strip())
                continue
            match = re.match(r"    ([A-Za-z_][A-Za-z0-9_]*)\s*:", line)
            if match and indent == 4:
                if pending:
                    found[match.group(1)] = " ".join(pending)
                pending = []
            elif indent <= 4:
                pending = []
    return found


def _docstring(cls: type) -> str:
    doc = cls.__dict__.get("__doc__")
    if not doc:
        return ""
    return " ".join(line.strip() for line in inspect.cleandoc(doc).split("\n\n")[0].splitlines())


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            return inner, True
    return annotation, False


def _strip_annotated(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The model classes of a (possibly discriminated) union of models, else []."""
    annotation = _strip_annotated(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [_strip_annotated(a) for a in get_args(annotation) if a is not type(None)]
        if args and all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
            return list(args)
    return []


def _type_name(annotation: Any) -> str:
    annotation = _strip_annotated(annotation)
    inner, optional = _unwrap_optional(annotation)
    if optional:
        return f"{_type_name(inner)} (optional)"
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(annotation))
    if origin in (list, tuple):
        args = get_args(annotation)
        return f"array of {_type_name(args[0])}" if args else "array"
    if origin is dict:
        key, value = get_args(annotation)
        return f"table of {_type_name(key)} → {_type_name(value)}"
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if annotation in names:
        return names[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(info: FieldInfo) -> str:
    inner, _ = _unwrap_optional(_strip_annotated(info.annotation))
    unit = "character(s)" if inner is str else "item(s)"
    parts = []
    symbols = {
        annotated_types.Gt: ("gt", "> "),
        annotated_types.Ge: ("ge", "≥ "),
        annotated_types.Lt: ("lt", "< "),
        annotated_types.Le: ("le", "≤ "),
    }
    for meta in info.metadata:
        for kind, (attribute, symbol) in symbols.items():
            if isinstance(meta, kind):
                parts.append(f"{symbol}{getattr(meta, attribute)}")
        if isinstance(meta, annotated_types.MinLen):
            parts.append(f"at least {meta.min_length} {unit}")
        if isinstance(meta, annotated_types.MaxLen):
            parts.append(f"at most {meta.max_length} {unit}")
        pattern = getattr(meta, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matches `{pattern}`")
    return ", ".join(parts)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    value = factory() if factory is not None else info.default  # type: ignore[call-arg]
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(table defaults)"
    if value is None:
        return "none"
    if value in ({}, []):
        return "`[]`" if value == [] else "`{}`"
    return f"`{json.dumps(value, default=str)}`"


def _variant(model: type[BaseModel]) -> str:
    """``type = "x"`` for one kind of a table that holds one of several."""
    tag = model.model_fields.get("type")
    if tag is None:
        return ""
    values = get_args(_strip_annotated(tag.annotation))
    return f"type = {json.dumps(values[0])}" if values else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _tables(
    model: type[BaseModel], path: str, note: str = "", array: bool = False
) -> Iterator[str]:
    """Markdown for ``model`` at ``path``, then for each nested table."""
    comments = _comments(model)
    rows: list[str] = []
    nested: list[tuple[type[BaseModel], str, str, bool]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotation = info.annotation
        inner, _ = _unwrap_optional(_strip_annotated(annotation))
        inner = _strip_annotated(inner)
        models = _models_in(inner)
        description = (
            comments.get(name) or FALLBACK.get(f"{model.__name__}.{name}") or FALLBACK.get(name, "")
        )
        if models:
            for sub in models:
                variant = _variant(sub) if len(models) > 1 else ""
                nested.append((sub, f"{path}.{key}", variant, False))
            rows.append(
                f"| `{key}` | table | {_default(info)} | | {_cell(description)} "
                f"(see [{path}.{key}]) |"
            )
            continue
        origin = get_origin(inner)
        element = get_args(inner)[-1] if origin in (list, dict) and get_args(inner) else None
        element_models = _models_in(element) if element is not None else []
        if element_models and origin is list:
            for sub in element_models:
                variant = _variant(sub) if len(element_models) > 1 else ""
                nested.append((sub, f"{path}.{key}", variant, True))
            rows.append(
                f"| `{key}` | array of tables | {_default(info)} | | {_cell(description)} "
                f"(see [[{path}.{key}]]) |"
            )
            continue
        if element_models and origin is dict:
            for sub in element_models:
                nested.append((sub, f"{path}.{key}.<name>", "", False))
            rows.append(
                f"| `{key}` | tables by name | {_default(info)} | | {_cell(description)} "
                f"(see [{path}.{key}.<name>]) |"
            )
            continue
        rows.append(
            f"| `{key}` | {_cell(_type_name(annotation))} | {_cell(_default(info))} | "
            f"{_cell(_bounds(info))} | {_cell(description)} |"
        )
    heading = f"[[{path}]]" if array else f"[{path}]"
    yield f"## `{heading}`" + (f" ({note})" if note else "")
    yield ""
    doc = _docstring(model)
    if doc:
        yield doc
        yield ""
    if rows:
        yield "| key | type | default | bounds | description |"
        yield "|---|---|---|---|---|"
        yield from rows
    else:
        yield "No keys besides those above."
    yield ""
    for sub, sub_path, variant, sub_array in nested:
        yield from _tables(sub, sub_path, variant, sub_array)


def render() -> str:
    from safeship.config.models import SafeshipConfig

    lines = [HEADER]
    for name, info in SafeshipConfig.model_fields.items():
        key = info.alias or name
        annotation, _ = _unwrap_optional(_strip_annotated(info.annotation))
        models = _models_in(annotation)
        if models:
            for model in models:
                lines += list(_tables(model, key))
            continue
        origin = get_origin(_strip_annotated(annotation))
        if origin is dict:
            for model in _models_in(get_args(annotation)[-1]):
                lines += list(_tables(model, f"{key}.<name>"))
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(), text.splitlines(), str(args.output), "generated", lineterm=""
            )
            print("\n".join(list(diff)[:40]))
            print(f"{args.output} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
