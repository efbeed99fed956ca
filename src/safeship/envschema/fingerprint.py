"""Fingerprints of secret values: a keyed hash prefix, enough to see that a value changed.

``HMAC-SHA256(key, value)``, first 16 hex digits. With a per-project key the fingerprints of short
or guessable secrets cannot be tested offline by someone who only reads the registry; the key is
never stored there. It comes from ``SAFESHIP_FINGERPRINT_KEY`` (hex, for CI runners that must
produce the same fingerprints as a laptop) or else from ``.safeship/fingerprint.key``, created
with mode 0600 on first use. Another key gives other fingerprints: each snapshot records the
key's id so that comparisons across keys are reported as such instead of as changes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from safeship._files import FILE_MODE, private_dir
from safeship.envschema.problems import EnvSourceError
from safeship.redaction import register_secret

KEY_FILENAME = "fingerprint.key"
KEY_ENV = "SAFESHIP_FINGERPRINT_KEY"
FINGERPRINT_CHARS = 16
_KEY_HEX = re.compile(r"[0-9a-fA-F]{32,128}")


@dataclass(frozen=True)
class FingerprintKey:
    secret: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A public name for the key (not enough to compute fingerprints)."""
        return hashlib.sha256(b"safeship fingerprint key id\0" + self.secret).hexdigest()[:8]

    def fingerprint(self, value: str) -> str:
        data = value.encode("utf-8", "surrogatepass")
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()[:FINGERPRINT_CHARS]


def load_key(state_dir: Path, environ: Mapping[str, str] | None = None) -> FingerprintKey:
    """The project's key: from $SAFESHIP_FINGERPRINT_KEY, else the key file (made if missing)."""
    environ = os.environ if environ is None else environ
    if environ.get(KEY_ENV):
        return _parse(environ[KEY_ENV], KEY_ENV)
    path = state_dir / KEY_FILENAME
    try:
        return _parse(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvSourceError([f"{path}: cannot read the fingerprint key: {exc}"]) from None
    text = secrets.token_hex(32)
    tmp = path.with_name(f".{KEY_FILENAME}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        private_dir(state_dir)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(text + "\n")
        # link() publishes the complete file atomically and fails if another process got there
        # first: every caller ends up with that one key, never a half-written file.
        os.link(tmp, path)
    except FileExistsError:
        return _parse(path.read_text(encoding="ascii"), str(path))
    except OSError as exc:
        raise EnvSourceError([f"{path}: cannot create the fingerprint key: {exc}"]) from None
    finally:
        tmp.unlink(missing_ok=True)
    return _parse(text, str(path))


def _parse(text: str, where: str) -> FingerprintKey:
    text = text.strip()
    if not _KEY_HEX.fullmatch(text):
        raise EnvSourceError(
            [f"{where}: not a fingerprint key (32 to 128 hex digits; delete it for a new one)"]
        )
    register_secret(text)
    return FingerprintKey(text.lower().encode("ascii"))
