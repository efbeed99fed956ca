"""The ``pattern`` of a schema variable, compiled by RE2: matching takes linear time.

Python's ``re`` backtracks: ``(a+)+b`` against 40 ``a``s runs for minutes, and a schema comes
from a repository anyone may send a pull request to. RE2 (google-re2) matches in time linear in
the value whatever the pattern, at the cost of features that need backtracking: lookarounds
(``(?=...)``, ``(?!...)``) and backreferences (``\\1``) are refused when the schema is loaded,
with RE2's reason. Classes such as ``\\d`` and ``\\w`` are ASCII in RE2, as a shell or a
JavaScript program reading the variable would take them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from safeship.envschema.limits import MAX_PATTERN_LENGTH, MAX_PATTERN_MEMORY

_REFUSED = "bad regular expression (RE2 syntax: no lookarounds or backreferences)"


@cache
def _re2() -> tuple[Any, Any]:
    """The re2 module and its options, imported with the first pattern: a schema without
    patterns (and `safeship env check` on it) does not load RE2."""
    import re2  # type: ignore[import-untyped]  # google-re2 ships no type information

    options = re2.Options()
    options.log_errors = False  # RE2 would also print its complaint to stderr
    options.max_mem = MAX_PATTERN_MEMORY
    return re2, options


@dataclass(frozen=True)
class Pattern:
    """A compiled schema pattern; ``pattern`` is the text as the schema wrote it."""

    pattern: str
    _compiled: Any = field(repr=False, compare=False)

    def fullmatch(self, value: str) -> bool:
        """Whether the whole of ``value`` matches (a value RE2 cannot take does not)."""
        try:
            return self._compiled.fullmatch(value) is not None
        except UnicodeEncodeError:  # a lone surrogate (os.environ's undecodable bytes)
            return False


def compile_pattern(text: str) -> Pattern:
    """``text`` compiled, or ValueError with one line saying why not."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"is {len(text)} characters long; a pattern may have at most {MAX_PATTERN_LENGTH}"
        )
    re2, options = _re2()
    try:
        compiled = re2.compile(text, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"{_REFUSED}: {reason}") from None
    except (TypeError, UnicodeEncodeError):
        raise ValueError(f"{_REFUSED}: not valid text") from None
    return Pattern(text, compiled)
