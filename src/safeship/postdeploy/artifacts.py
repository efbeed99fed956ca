"""The release's artifacts: the files ``artifacts`` names (glob patterns under the project
directory: ``dist/*.whl``, ``sbom.json``) and the deployment's report (``report.md`` as stored
at its end) copied to the artifact store (:mod:`safeship.artifacts`: ``.safeship/artifacts`` or
``[artifacts] store``), each indexed with its SHA-256 and size and linked to the deployment.

Bounded: at most ``max_files`` files of ``max_mb`` megabytes together, counted before anything
is copied (more is a failed step, nothing stored). Only regular files inside the project
directory are taken: not a symbolic link leading out of it, and not a hidden file or a file in
a hidden directory (``.env``, ``.git/``, ``.safeship/``), which a broad pattern would otherwise
sweep into the archive. A pattern that matches nothing is said in the verdict, not a failure
(an SBOM is archived "if produced").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from safeship.gates.base import GateVerdict, failed, passed, skipped
from safeship.postdeploy.base import StepContext, first_line

if TYPE_CHECKING:
    from safeship.artifacts.store import ArtifactStore
    from safeship.gates.settings import PostDeploySettings
    from safeship.registry.gate_rows import StoredFile

# The stored files' kinds: the configured files, and the deployment's report.
ARTIFACT_KIND: Final = "artifact"
REPORT_KIND: Final = "report"
REPORT_ARTIFACT: Final = "report.md"  # the registry's kind of a deployment's markdown report
MB: Final = 1024 * 1024


@dataclass(frozen=True)
class ArtifactsStep:
    patterns: tuple[str, ...]
    max_files: int
    max_bytes: int
    name: str = "artifacts"

    def run(self, context: StepContext) -> GateVerdict:
        base = context.loaded.base_dir.resolve()
        found = collect(base, self.patterns, self.max_files)
        if found.too_many:
            return failed(
                f"more than max_files = {self.max_files} files match {list(self.patterns)}: "
                "none was stored"
            )
        total = sum(path.stat().st_size for path in found.files)
        if total > self.max_bytes:
            return failed(
                f"the {len(found.files)} files matched are {_size(total)} together, more than "
                f"max_mb = {self.max_bytes / MB:g}: none was stored"
            )
        report = context.registry.artifacts.latest(context.record.id, REPORT_ARTIFACT)
        if not found.files and report is None:
            return skipped(_nothing(found.unmatched))
        from safeship.artifacts.store import ArtifactStore

        store = ArtifactStore.for_config(context.loaded, context.registry)
        stored: list[dict[str, Any]] = []
        context.facts["artifacts"] = stored
        for path in found.files:
            try:
                kept = store.put_file(
                    ARTIFACT_KIND, context.environment, path.name, path, context.record.id
                )
            except Exception as exc:
                return failed(
                    f"stored {len(stored)} of {len(found.files)} files; "
                    f"{path.relative_to(base)}: {first_line(exc)}",
                    files=stored,
                )
            stored.append(_entry(kept, str(path.relative_to(base))))
        if report is not None:
            kept = _store_report(store, context, report.info.name, report.content)
            stored.append(_entry(kept, REPORT_ARTIFACT))
            context.facts["report_url"] = kept.url
        count = len(found.files)
        said = f"stored {count} file{'s' if count != 1 else ''} ({_size(total)})"
        said += " and the report" if report is not None else " (no stored report to add)"
        if found.unmatched:
            said += f"; {', '.join(found.unmatched)} matched nothing"
        return passed(said, files=stored, total_bytes=total)


@dataclass(frozen=True)
class Found:
    files: list[Path]  # resolved, each once, sorted
    unmatched: list[str]  # the patterns that matched no file
    too_many: bool  # more than the bound matched (the search stopped there)


def collect(base: Path, patterns: Sequence[str], bound: int) -> Found:
    """The regular, visible files under ``base`` that ``patterns`` match, at most ``bound``
    (the search stops at one more: ``too_many``)."""
    files: list[Path] = []
    seen: set[Path] = set()
    unmatched: list[str] = []
    for pattern in patterns:
        matched = False
        for path in _matches(base, pattern):
            matched = True
            if path in seen:
                continue
            seen.add(path)
            files.append(path)
            if len(files) > bound:
                return Found(files, unmatched, too_many=True)
        if not matched:
            unmatched.append(pattern)
    return Found(sorted(files), unmatched, too_many=False)


def _matches(base: Path, pattern: str) -> Iterator[Path]:
    for candidate in base.glob(pattern):  # lazily: the bound stops the search
        relative = candidate.relative_to(base)
        if any(part.startswith(".") for part in relative.parts):
            continue  # .env, .git/, .safeship/: never archived by a pattern
        resolved = candidate.resolve()
        if not resolved.is_file() or not resolved.is_relative_to(base):
            continue  # a directory, or a link leading out of the project
        yield resolved


def _store_report(store: ArtifactStore, context: StepContext, name: str, text: bytes) -> StoredFile:
    import tempfile

    from safeship._files import write_private

    with tempfile.TemporaryDirectory(prefix="safeship-report-") as directory:
        path = Path(directory) / name
        write_private(path, text)
        return store.put_file(REPORT_KIND, context.environment, name, path, context.record.id)


def _entry(stored: StoredFile, source: str) -> dict[str, Any]:
    return {
        "id": stored.id,
        "kind": stored.kind,
        "name": stored.name,
        "source": source,
        "url": stored.url,
        "sha256": stored.sha256,
        "size": stored.size,
    }


def _nothing(unmatched: Sequence[str]) -> str:
    return f"{', '.join(unmatched)} matched nothing, and the deployment has no stored report"


def _size(size: int) -> str:
    return f"{size} bytes" if size < 10 * 1024 else f"{size / MB:.1f} MB"


def step(settings: PostDeploySettings) -> ArtifactsStep | None:
    if not settings.artifacts:
        return None
    return ArtifactsStep(tuple(settings.artifacts), settings.max_files, int(settings.max_mb * MB))
