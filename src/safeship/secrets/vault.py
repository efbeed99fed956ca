"""HashiCorp Vault's KV version 2 secrets engine as a VersionedSecretStore, through ``hvac``.

Layout (docs/secrets.md, ``[secrets.vault]``): each secret NAME of an environment is the KV v2
secret ``<mount>/<path with {environment}>/NAME`` and its value is the data key ``value``::

    secret/data/safeship/production/JWT_SECRET      {"data": {"value": "..."}}
    secret/metadata/safeship/production/JWT_SECRET  {"custom_metadata": {"safeship_current": "3",
                                                      "safeship_previous": "2"}, "versions": ...}

Versions are KV v2's own: ``put`` is a write with ``options.cas`` set to the newest version
the writer saw (0: the secret must not exist yet), so two writers never both win; the loser
gets Vault's 400 "check-and-set parameter did not match the current version", raised here as
SecretConflict. The labels current/pending/previous are the secret's ``custom_metadata`` keys
``safeship_<label>`` = the version number, written with one metadata update that keeps every
other custom metadata key (Vault's metadata POST replaces the whole map) and the secret's
``delete_version_after`` (the update would otherwise reset it). A secret written outside
safeship has no labels until safeship sets them: its newest version is never taken for
current, since a rotation that crashed after writing its pending version leaves exactly that.

Authentication: the token in ``$token_env``, or an AppRole login with ``$role_id_env`` and
``$secret_id_env`` (the token it returns lives in memory only; on a 403 that says the token is
invalid or expired the store logs in again once and repeats the refused request, which Vault
did not carry out). ``namespace`` is sent as X-Vault-Namespace. Every value read, the token and
the secret_id are registered with safeship.redaction before anything else happens with them.

Errors are one line: the Vault URL (without credentials), the operation and API path, and the
cause (sealed, permission denied, invalid token, not reachable, a variable not set); never a
value or a token, never a traceback. hvac (and requests) are imported on first use only: the
config load and the CLI's fast path never pay for them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit, urlunsplit

from safeship.redaction import redact, register_secret
from safeship.secrets.base import (
    CURRENT,
    LABELS,
    SecretConflict,
    SecretStoreError,
    SecretVersion,
    VersionInfo,
)

if TYPE_CHECKING:
    from safeship.secrets.settings import SecretsSettings, VaultSettings

LABEL_PREFIX: Final = "safeship_"  # custom_metadata key of a label: safeship_current, ...
VALUE_KEY: Final = "value"  # the data key holding the secret's value
# A secret name is one path segment under the environment's path.
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_CAS_MISMATCH: Final = "check-and-set parameter did not match"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()\]]+)")


class _NotFound(Exception):
    """Vault answered 404: no such secret, version or list (the caller's None / [])."""


@dataclass(frozen=True)
class _Operation:
    verb: str  # "read", "write", "list", ...: what the error line says was attempted
    api_path: str  # e.g. secret/data/safeship/production/JWT_SECRET
    write: bool = False  # a request that may take effect: never repeated after no answer


class VaultStore:
    def __init__(self, environment: str, settings: SecretsSettings, base_dir: Path) -> None:
        self.environment = environment
        self._vault: VaultSettings = settings.vault
        self.mount = settings.vault.mount
        self.path = settings.vault.path.replace("{environment}", environment).strip("/")
        self.url = _without_credentials(settings.vault.url)
        self._base_dir = base_dir
        self._client: Any = None  # hvac.Client, made (and logged in) on first use

    # -- the VersionedSecretStore protocol --------------------------------------------------

    def read(self, name: str, label: str = CURRENT) -> SecretVersion | None:
        _check_label(label)
        version = self.labels(name).get(label)
        return None if version is None else self.read_version(name, version)

    def read_version(self, name: str, version: int) -> SecretVersion | None:
        path = self._secret_path(name)
        if version < 1:  # Vault reads version 0 as "the newest": never what the caller meant
            return None
        operation = _Operation("read", f"{self.mount}/data/{path}")
        try:
            answer = self._request(
                operation,
                lambda client: client.secrets.kv.v2.read_secret_version(
                    path=path,
                    version=version,
                    mount_point=self.mount,
                    raise_on_deleted_version=True,  # deleted or destroyed: 404, None here
                ),
            )
        except _NotFound:
            return None
        body = _data(answer)
        data, metadata = body.get("data"), body.get("metadata")
        if not isinstance(data, dict) or not isinstance(metadata, dict):
            raise self._error(operation, "unexpected answer (no data and metadata)")
        value = data.get(VALUE_KEY)
        if not isinstance(value, str):
            raise self._error(
                operation, f"version {version} has no string {VALUE_KEY!r} key in its data"
            )
        register_secret(value)
        return SecretVersion(name, version, value, _parse_time(metadata.get("created_time")))

    def put(self, name: str, value: str, *, cas: int) -> int:
        path = self._secret_path(name)
        operation = _Operation("write", f"{self.mount}/data/{path}", write=True)
        if not value:
            raise self._error(operation, "an empty value is not a secret")
        if cas < 0:
            raise self._error(operation, f"cas {cas}: a version number, 0 for a new secret")
        register_secret(value)
        try:
            answer = self._request(
                operation,
                lambda client: client.secrets.kv.v2.create_or_update_secret(
                    path=path, secret={VALUE_KEY: value}, cas=cas, mount_point=self.mount
                ),
            )
        except _NotFound:
            raise self._error(operation, "not found (404)") from None
        version = _data(answer).get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self._error(operation, "unexpected answer (no version number)")
        return version

    def labels(self, name: str) -> dict[str, int]:
        operation, metadata = self._metadata(name)
        return {} if metadata is None else self._labels_of(operation, metadata)

    def set_labels(self, name: str, labels: Mapping[str, int | None]) -> None:
        for label in labels:
            _check_label(label)
        operation, metadata = self._metadata(name)
        if metadata is None:
            raise self._error(operation, "no such secret")
        versions = self._versions_of(operation, metadata)
        custom = _custom_metadata(metadata)
        changed = dict(custom)
        for label, version in labels.items():
            key = LABEL_PREFIX + label
            if version is None:
                changed.pop(key, None)
            elif version not in versions:
                raise self._error(operation, f"no version {version} to label {label}")
            elif _gone(versions[version]):
                raise self._error(operation, f"version {version} is deleted or destroyed")
            else:
                changed[key] = str(version)
        if changed == custom:
            return
        # Vault's metadata write replaces custom_metadata whole and sets delete_version_after
        # to what it is given (hvac sends "0s" unless told): both are sent back as they were.
        keep_after = metadata.get("delete_version_after")
        path = self._secret_path(name)
        update = _Operation("label", operation.api_path, write=True)
        try:
            self._request(
                update,
                lambda client: client.secrets.kv.v2.update_metadata(
                    path=path,
                    mount_point=self.mount,
                    custom_metadata=changed,
                    delete_version_after=keep_after if isinstance(keep_after, str) else "0s",
                ),
            )
        except _NotFound:
            raise self._error(update, "not found (404)") from None

    def versions(self, name: str) -> list[VersionInfo]:
        operation, metadata = self._metadata(name)
        if metadata is None:
            return []
        by_version: dict[int, list[str]] = {}
        for label, version in self._labels_of(operation, metadata).items():
            by_version.setdefault(version, []).append(label)
        return [
            VersionInfo(
                number,
                _parse_time(info.get("created_time")),
                tuple(sorted(by_version.get(number, []), key=LABELS.index)),
                destroyed=_gone(info),
            )
            for number, info in sorted(self._versions_of(operation, metadata).items())
        ]

    def newest(self, name: str) -> int:
        operation, metadata = self._metadata(name)
        if metadata is None:
            return 0
        current = metadata.get("current_version")
        if not isinstance(current, int) or isinstance(current, bool) or current < 0:
            raise self._error(operation, "unexpected answer (no current_version)")
        return current

    def names(self) -> list[str]:
        operation = _Operation("list", f"{self.mount}/metadata/{self.path}")
        try:
            answer = self._request(
                operation,
                lambda client: client.secrets.kv.v2.list_secrets(
                    path=self.path, mount_point=self.mount
                ),
            )
        except _NotFound:
            return []
        keys = _data(answer).get("keys")
        if not isinstance(keys, list):
            raise self._error(operation, "unexpected answer (no keys)")
        # "name/" is a folder below a secret's path, not a secret of this environment.
        return sorted(k for k in keys if isinstance(k, str) and not k.endswith("/"))

    # -- Vault ------------------------------------------------------------------------------

    def _secret_path(self, name: str) -> str:
        if not _NAME.match(name) or name in (".", ".."):
            raise SecretStoreError(
                f"vault {self.url}: {name[:64]!r} is not a secret name "
                "(letters, digits, '_', '.', '-'; one path segment)"
            )
        return f"{self.path}/{name}"

    def _metadata(self, name: str) -> tuple[_Operation, dict[str, Any] | None]:
        """The secret's metadata (None: no such secret), and the operation that read it."""
        path = self._secret_path(name)
        operation = _Operation("read", f"{self.mount}/metadata/{path}")
        try:
            answer = self._request(
                operation,
                lambda client: client.secrets.kv.v2.read_secret_metadata(
                    path=path, mount_point=self.mount
                ),
            )
        except _NotFound:
            return operation, None
        return operation, _data(answer)

    def _labels_of(self, operation: _Operation, metadata: Mapping[str, Any]) -> dict[str, int]:
        labels: dict[str, int] = {}
        custom = _custom_metadata(metadata)
        for label in LABELS:
            text = custom.get(LABEL_PREFIX + label)
            if text is None:
                continue
            if not text.isascii() or not text.isdigit() or int(text) < 1:
                raise self._error(
                    operation,
                    f"custom_metadata {LABEL_PREFIX}{label} = {text[:20]!r} is not a version",
                )
            labels[label] = int(text)
        return labels

    def _versions_of(
        self, operation: _Operation, metadata: Mapping[str, Any]
    ) -> dict[int, dict[str, Any]]:
        versions = metadata.get("versions")
        if not isinstance(versions, dict):
            raise self._error(operation, "unexpected answer (no versions)")
        by_number: dict[int, dict[str, Any]] = {}
        for key, info in versions.items():
            if not str(key).isdigit() or not isinstance(info, dict):
                raise self._error(operation, "unexpected answer (a malformed version)")
            by_number[int(key)] = info
        return by_number

    def _request(self, operation: _Operation, call: Callable[[Any], Any]) -> Any:
        """``call(client)``'s answer; every failure as one SecretStoreError line (404 as
        _NotFound). An AppRole token Vault calls invalid or expired is renewed by one login,
        then the request (refused, so not carried out) is sent again, once."""
        import hvac.exceptions as vault_errors
        import requests.exceptions  # hvac's HTTP client

        client = self._connected()
        for attempt in (1, 2):
            try:
                answer = call(client)
            except vault_errors.InvalidPath as exc:
                if _route_missing(exc):
                    raise self._error(
                        operation,
                        f"no secrets engine is mounted at {self.mount}/ "
                        "(the KV version 2 engine's mount: [secrets.vault] mount)",
                    ) from None
                raise _NotFound from None
            except vault_errors.Forbidden as exc:
                if _invalid_token(exc):
                    if attempt == 1 and self._vault.auth == "approle":
                        self._login(client)
                        continue
                    raise self._error(operation, self._invalid_token_cause()) from None
                raise self._error(
                    operation,
                    "permission denied (403): the token's policy does not allow this "
                    "(docs/secrets.md lists the policy safeship needs)",
                ) from None
            except vault_errors.InvalidRequest as exc:
                if _CAS_MISMATCH in _messages(exc):
                    raise SecretConflict(
                        self._line(
                            operation,
                            "check-and-set failed: the secret has changed since the writer "
                            "read it (another writer); read it again",
                        )
                    ) from None
                raise self._error(operation, f"refused (400: {_messages(exc)})") from None
            except vault_errors.VaultDown as exc:
                if "sealed" in _messages(exc).lower():
                    raise self._error(operation, "Vault is sealed (503)") from None
                raise self._error(operation, f"unavailable (503: {_messages(exc)})") from None
            except vault_errors.VaultError as exc:
                raise self._error(operation, _status_cause(exc)) from None
            except requests.exceptions.RequestException as exc:
                raise self._error(operation, self._unreachable(exc, operation)) from None
            if not isinstance(answer, dict) and getattr(answer, "status_code", None) != 204:
                status = getattr(answer, "status_code", "?")
                raise self._error(
                    operation,
                    f"unexpected answer (HTTP {status}; is {self.mount}/ a KV version 2 "
                    "engine, and url Vault itself rather than a redirect?)",
                )
            return answer
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _connected(self) -> Any:
        """The hvac client, made and (AppRole) logged in on first use."""
        if self._client is not None:
            return self._client
        import hvac

        vault = self._vault
        token = self._variable(vault.token_env, "token_env") if vault.auth == "token" else ""
        ca_cert = str(self._base_dir / vault.ca_cert) if vault.ca_cert else None
        if ca_cert is not None and not Path(ca_cert).is_file():
            # requests would raise a bare OSError for it, on the first request
            raise SecretStoreError(
                f"vault {self.url}: [secrets.vault] ca_cert {ca_cert}: no such file"
            )
        client = hvac.Client(
            url=vault.url,
            token=token,  # "" (AppRole): never hvac's fallback to $VAULT_TOKEN / ~/.vault-token
            namespace=vault.namespace or None,
            timeout=vault.timeout,
            verify=ca_cert,  # None: $VAULT_CACERT if set, else the system's CAs
            # The token travels in X-Vault-Token, which requests would carry to wherever a
            # redirect points; a standby forwards requests to the active node itself.
            allow_redirects=False,
            strict_http=True,  # LIST as GET ?list=true: through any proxy
        )
        if vault.auth == "approle":
            self._login(client)
        self._client = client
        return client

    def _login(self, client: Any) -> None:
        import hvac.exceptions as vault_errors
        import requests.exceptions

        vault = self._vault
        operation = _Operation("log in at", f"auth/{vault.approle_mount}/login")
        role_id = self._variable(vault.role_id_env, "role_id_env")
        secret_id = self._variable(vault.secret_id_env, "secret_id_env")
        client.token = ""  # the expired token is not sent with the login
        try:
            answer = client.auth.approle.login(
                role_id=role_id, secret_id=secret_id, mount_point=vault.approle_mount
            )
        except vault_errors.InvalidRequest as exc:
            raise self._error(
                operation,
                f"AppRole login refused (400: {_messages(exc)}; ${vault.role_id_env} and "
                f"${vault.secret_id_env})",
            ) from None
        except vault_errors.VaultDown as exc:
            sealed = "sealed" in _messages(exc).lower()
            cause = "Vault is sealed (503)" if sealed else f"unavailable (503: {_messages(exc)})"
            raise self._error(operation, cause) from None
        except vault_errors.VaultError as exc:
            raise self._error(operation, _status_cause(exc)) from None
        except requests.exceptions.RequestException as exc:
            raise self._error(operation, self._unreachable(exc, operation)) from None
        auth = answer.get("auth") if isinstance(answer, dict) else None
        token = auth.get("client_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise self._error(operation, "unexpected answer (no auth.client_token)")
        register_secret(token)
        client.token = token

    def _variable(self, variable: str, key: str) -> str:
        value = os.environ.get(variable, "").strip()
        if not value:
            raise SecretStoreError(
                f"vault {self.url}: ${variable} is not set ([secrets.vault] {key}, "
                f"auth = {self._vault.auth!r})"
            )
        register_secret(value)
        return value

    def _invalid_token_cause(self) -> str:
        if self._vault.auth == "approle":
            return "the AppRole login's token is invalid or expired, even after a new login (403)"
        return f"the token in ${self._vault.token_env} is invalid or expired (403)"

    def _unreachable(self, exc: Exception, operation: _Operation) -> str:
        kind = type(exc).__name__
        after = (
            "; it may have taken effect: read the secret again before repeating it"
            if operation.write
            else ""
        )
        if kind in ("ReadTimeout", "Timeout"):
            return f"no answer within {self._vault.timeout:g}s{after}"
        if kind == "SSLError":
            return "TLS verification failed (a CA bundle: [secrets.vault] ca_cert)"
        if kind == "ConnectTimeout":
            return f"not reachable (no connection within {self._vault.timeout:g}s)"
        if "Connection aborted" in str(exc):  # it arrived; the answer did not
            return f"the connection dropped before an answer{after}"
        found = _ERRNO.search(str(exc))
        reason = found.group(1).strip() if found else kind
        return f"not reachable ({reason}){after}"

    def _line(self, operation: _Operation, cause: str) -> str:
        namespace = f" (namespace {self._vault.namespace})" if self._vault.namespace else ""
        text = f"vault {self.url}{namespace}: {operation.verb} {operation.api_path}: {cause}"
        return redact(" ".join(text.split()))

    def _error(self, operation: _Operation, cause: str) -> SecretStoreError:
        return SecretStoreError(self._line(operation, cause))


def _data(answer: Any) -> dict[str, Any]:
    data = answer.get("data") if isinstance(answer, dict) else None
    return data if isinstance(data, dict) else {}


def _custom_metadata(metadata: Mapping[str, Any]) -> dict[str, str]:
    custom = metadata.get("custom_metadata")  # null until someone sets it
    if not isinstance(custom, dict):
        return {}
    return {str(k): str(v) for k, v in custom.items()}


def _gone(info: Mapping[str, Any]) -> bool:
    """Deleted (a deletion_time that has passed) or destroyed: Vault no longer returns it."""
    if info.get("destroyed") is True:
        return True
    deleted = _parse_time(info.get("deletion_time"))
    return deleted is not None and deleted <= datetime.now(UTC)


def _messages(exc: Any) -> str:
    """Vault's error strings in one line ("2 errors occurred:\\n\\t* permission denied\\n\\t*
    invalid token" becomes "permission denied; invalid token")."""
    errors = exc.errors
    if not isinstance(errors, list):  # hvac reads "errors" only under exactly application/json
        try:
            errors = json.loads(exc.text or "")["errors"]
        except (ValueError, TypeError, KeyError):
            errors = [exc.text or ""]
        errors = errors if isinstance(errors, list) else [str(errors)]
    parts: list[str] = []
    for error in errors:
        for line in str(error).splitlines():
            line = line.strip().lstrip("*").strip()
            if line and not re.fullmatch(r"\d+ errors? occurred:", line):
                parts.append(line)
    return "; ".join(parts)[:300] or "no message"


def _invalid_token(exc: Any) -> bool:
    return "invalid token" in _messages(exc).lower()


def _route_missing(exc: Any) -> bool:
    return "no handler for route" in _messages(exc).lower()


def _status_cause(exc: Any) -> str:
    statuses = {
        "Unauthorized": 401,
        "RateLimitExceeded": 429,
        "InternalServerError": 500,
        "VaultNotInitialized": 501,
        "BadGateway": 502,
    }
    status = statuses.get(type(exc).__name__)
    if status == 501:
        return "Vault is not initialized (501)"
    return f"answered {status or 'an error'}: {_messages(exc)}"


def _check_label(label: str) -> None:
    if label not in LABELS:
        raise SecretStoreError(f"unknown label {label!r} (expected one of: {', '.join(LABELS)})")


def _parse_time(text: object) -> datetime | None:
    """Vault's RFC 3339 times (nanoseconds, "Z"); "" (not deleted) and junk are None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
