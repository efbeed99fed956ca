"""``safeship init``: a commented safeship.toml (and env.schema.toml) for an existing project.

Modules: ``detect`` (what the project holds), ``templates`` (the files written); this one
writes them.

What it detects, first found wins for the start command:

1. ``Procfile``: the ``web:`` process.
2. ``railway.json`` / ``railway.toml``: ``deploy.startCommand``; also ``healthcheckPath`` and
   ``healthcheckTimeout`` (the health check) and ``numReplicas`` (noted in a comment).
3. ``package.json``: the ``start`` script, run as ``npm start``.
4. An ASGI or WSGI app in a top-level module, ``app/`` or ``src/<pkg>/``: ``name = FastAPI()``
   (also Starlette, Quart, Litestar) runs under uvicorn, ``name = Flask()`` under gunicorn.
5. ``pyproject.toml``: the first ``[project.scripts]`` console script.

The release gets its port as ``{port}`` in the command and as ``$PORT`` in its environment; a
command that needs a shell (``&&``, pipes, other variables) runs under ``sh -c``. An
``env.schema.toml`` is written from ``.env.example`` when there is one: a type guessed from each
example value, names that look like credentials marked secret, browser-exposed prefixes public.
Nothing existing is ever overwritten: a file in the way stops ``init`` before it writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from safeship.config import CONFIG_FILENAME
from safeship.scaffold.detect import Detected, detect
from safeship.scaffold.templates import SCHEMA_FILENAME, render_config, render_schema


class InitError(Exception):
    """A file init would write already exists, or the directory is not usable."""


# -- writing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class InitResult:
    written: list[Path]
    detected: Detected


def init_project(root: Path) -> InitResult:
    """Write safeship.toml (and env.schema.toml from .env.example); never overwrite."""
    from safeship.envschema.dotenv_file import read_env_file

    if not root.is_dir():
        raise InitError(f"{root}: not a directory")
    config = root / CONFIG_FILENAME
    example = root / ".env.example"
    schema = root / SCHEMA_FILENAME
    if config.exists() or config.is_symlink():
        raise InitError(f"{config} already exists: init never overwrites a file")
    schema_text: str | None = None
    if example.is_file() and not (schema.exists() or schema.is_symlink()):
        env = read_env_file(example)
        if env.values:
            schema_text = render_schema(env.values, example.name)
    found = detect(root)
    has_schema = schema_text is not None or schema.exists()
    written = [config]
    _create(config, render_config(found, has_schema))
    if schema_text is not None:
        _create(schema, schema_text)
        written.append(schema)
    return InitResult(written, found)


def _create(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as file:  # "x": fails if it appeared meanwhile
            file.write(text)
    except FileExistsError:
        raise InitError(f"{path} already exists: init never overwrites a file") from None
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror or exc}") from None
