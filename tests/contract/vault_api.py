"""A loopback contract server for HashiCorp Vault: the KV version 2 secrets engine and AppRole
login, exactly the endpoints safeship.secrets.vault uses.

Shapes written from Vault's published API documentation and the engine's source, not recorded
from a live server:
- https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2 (read secret version
  ``GET /v1/:mount/data/:path?version=N``, create/update ``POST /v1/:mount/data/:path`` with
  ``{"options": {"cas": N}, "data": {...}}``, read metadata ``GET /v1/:mount/metadata/:path``,
  create/update metadata ``POST /v1/:mount/metadata/:path`` with max_versions, cas_required,
  delete_version_after and custom_metadata (204), list ``LIST /v1/:mount/metadata/:path``,
  sent by hvac with strict_http as ``GET ...?list=true``)
- https://developer.hashicorp.com/vault/api-docs/auth/approle (login
  ``POST /v1/auth/:mount/login`` with role_id and secret_id, answering ``auth.client_token``)
- https://developer.hashicorp.com/vault/api-docs#http-status-codes (errors as
  ``{"errors": [...]}``; 400 invalid request, 403 forbidden, 404 not found, 503 sealed)
- https://developer.hashicorp.com/vault/docs/concepts/tokens#error-responses (a revoked or
  expired token: 403 with "permission denied" and "invalid token")
- https://developer.hashicorp.com/vault/docs/enterprise/namespaces (X-Vault-Namespace: each
  namespace has its own mounts and secrets; a token is valid in the namespace it was made in and
  below it)
Checked against the engine's source (github.com/hashicorp/vault-plugin-secrets-kv, path_data.go
and path_metadata.go, through the ``search`` tool): a CAS mismatch is 400 "check-and-set
parameter did not match the current version"; a missing secret or version is 404
``{"errors": []}``; a deleted or destroyed version is 404 carrying the version's metadata with
``data: null``; a write answers ``data: {version, created_time, deletion_time, destroyed,
custom_metadata}``; the metadata write replaces custom_metadata whole, sets
delete_version_after when given, and validates custom_metadata (at most 64 keys, keys of
1-128 and values of 1-512 bytes); versions past max_versions (default 10) are removed.
Not verified: the exact text of the 400 for a malformed body (Vault ignores unknown fields with
a warning; this server refuses them, to catch a client sending what it did not mean), and
multi-error formatting beyond the one quoted for an invalid token.

Switches: ``sealed`` (503 "Vault is sealed" to everything), ``deny(prefix)`` (403 "permission
denied" for API paths under prefix, per method), ``expire(token)`` (an invalid token),
``delete_version``/``destroy_version`` (an operator's ``vault kv delete/destroy``).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from loopback import ContractServer

ROOT_NAMESPACE = ""
ROLE_ID = "d1a5b1c2-7e44-4a61-9d3b-5c8e2f0a9b11"
SECRET_ID = "sid-Qm7Xv2Lp9Rt4Wz8Kd3Hn6Bc1Fy5Js0Ga"
_MAX_VERSIONS = 10  # the engine's default when neither config nor metadata sets one
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _now() -> str:
    """Vault's time format: RFC 3339 in UTC with nanoseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def _go_duration(seconds: int) -> str:
    """Go's time.Duration.String() for whole seconds: 0s, 45s, 1m30s, 1h0m0s."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@dataclass
class FakeVersion:
    data: dict[str, Any] | None
    created_time: str
    deletion_time: str = ""
    destroyed: bool = False

    def gone(self) -> bool:
        """Destroyed, or deleted: a deletion_time (delete_version_after's) that has passed."""
        if self.destroyed:
            return True
        if not self.deletion_time:
            return False
        return datetime.fromisoformat(self.deletion_time) <= datetime.now(UTC)

    def metadata(self) -> dict[str, Any]:
        return {
            "created_time": self.created_time,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
        }


@dataclass
class FakeSecret:
    created_time: str = field(default_factory=_now)
    updated_time: str = field(default_factory=_now)
    versions: dict[int, FakeVersion] = field(default_factory=dict)
    current_version: int = 0
    oldest_version: int = 0
    max_versions: int = 0
    cas_required: bool = False
    delete_version_after: int = 0  # seconds
    custom_metadata: dict[str, str] | None = None  # null until written, as Vault answers


@dataclass
class FakeToken:
    namespace: str
    valid: bool = True


def _json(body: Any, status: int = 200) -> web.Response:
    """Vault's Content-Type is exactly application/json (hvac parses "errors" only then)."""
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def _errors(status: int, *messages: str) -> web.Response:
    return _json({"errors": list(messages)}, status=status)


def _envelope(data: Any) -> dict[str, Any]:
    return {
        "request_id": secrets.token_hex(8),
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": None,
        "auth": None,
        "mount_type": "kv",
    }


class VaultServer(ContractServer):
    hang_seconds = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, FakeToken] = {}
        self.root_token = self.new_token(ROOT_NAMESPACE)
        self.namespaces: set[str] = {ROOT_NAMESPACE, "team-a"}
        self.mounts: set[str] = {"secret"}  # a KV v2 mount in every namespace
        # namespace -> mount -> secret path -> the secret
        self.trees: dict[str, dict[str, dict[str, FakeSecret]]] = {}
        self.sealed = False
        self.approle_mount = "approle"
        self.logins = 0
        self._denied: list[tuple[str, str]] = []  # (method, API path prefix)
        self._state = threading.Lock()

    # -- switches ----------------------------------------------------------------------------

    def new_token(self, namespace: str = ROOT_NAMESPACE) -> str:
        token = f"hvs.{secrets.token_urlsafe(18)}"
        self.tokens[token] = FakeToken(namespace)
        return token

    def expire(self, token: str) -> None:
        self.tokens[token].valid = False

    def deny(self, prefix: str, *methods: str) -> None:
        """403 "permission denied" for API paths (``secret/metadata/safeship/...``) under
        ``prefix``, for ``methods`` (default: GET and POST), as a policy without them."""
        for method in methods or ("GET", "POST"):
            self._denied.append((method, prefix))

    def secret(
        self, path: str, namespace: str = ROOT_NAMESPACE, mount: str = "secret"
    ) -> FakeSecret:
        return self.trees[namespace][mount][path]

    def delete_version(self, path: str, version: int, namespace: str = ROOT_NAMESPACE) -> None:
        self.secret(path, namespace).versions[version].deletion_time = _now()

    def destroy_version(self, path: str, version: int, namespace: str = ROOT_NAMESPACE) -> None:
        entry = self.secret(path, namespace).versions[version]
        entry.destroyed, entry.data = True, None

    def values(self) -> list[str]:
        """Every value stored, any namespace (for the leak checks)."""
        return [
            str(v)
            for mounts in self.trees.values()
            for tree in mounts.values()
            for secret in tree.values()
            for version in secret.versions.values()
            for v in (version.data or {}).values()
        ]

    # -- routes ------------------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/auth/{auth_mount}/login", self._login)
        app.router.add_get("/v1/{mount}/data/{path:.+}", self._read_data)
        app.router.add_post("/v1/{mount}/data/{path:.+}", self._write_data)
        app.router.add_get("/v1/{mount}/metadata/{path:.+}", self._read_metadata)
        app.router.add_post("/v1/{mount}/metadata/{path:.+}", self._write_metadata)

    def _namespace(self, request: web.Request) -> str | None:
        namespace = request.headers.get("X-Vault-Namespace", "").strip("/")
        return namespace if namespace in self.namespaces else None

    def _guard(self, request: web.Request, api_path: str) -> web.Response | None:
        """Vault's checks before a handler: sealed, the namespace, the token, the policy."""
        if self.sealed:
            return _errors(503, "Vault is sealed")
        namespace = self._namespace(request)
        if namespace is None:
            return _errors(404, "no handler for route; namespace not found")
        token = self.tokens.get(request.headers.get("X-Vault-Token", ""))
        if token is None or not token.valid:
            if token is None and not request.headers.get("X-Vault-Token"):
                return _errors(403, "permission denied")
            return _errors(403, "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n")
        if token.namespace and not (namespace + "/").startswith(token.namespace + "/"):
            return _errors(403, "permission denied")
        for method, prefix in self._denied:
            if request.method == method and api_path.startswith(prefix):
                return _errors(403, "permission denied")
        mount = request.match_info["mount"]
        if mount not in self.mounts:
            return _errors(404, f'no handler for route "{api_path}". route entry not found.')
        return None

    def _tree(self, request: web.Request) -> dict[str, FakeSecret]:
        namespace = self._namespace(request) or ""
        mount = request.match_info["mount"]
        return self.trees.setdefault(namespace, {}).setdefault(mount, {})

    @staticmethod
    def _api_path(request: web.Request, kind: str) -> str:
        return f"{request.match_info['mount']}/{kind}/{request.match_info['path']}"

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            return _errors(400, "failed to parse JSON input")
        if not isinstance(body, dict):
            return _errors(400, "failed to parse JSON input: not an object")
        return body

    async def _login(self, request: web.Request) -> web.Response:
        if self.sealed:
            return _errors(503, "Vault is sealed")
        namespace = self._namespace(request)
        if namespace is None or request.match_info["auth_mount"] != self.approle_mount:
            return _errors(404, "no handler for route; route entry not found.")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if set(body) - {"role_id", "secret_id"}:
            return _errors(400, f"unknown fields: {sorted(set(body) - {'role_id', 'secret_id'})}")
        role_id, secret_id = body.get("role_id"), body.get("secret_id")
        if not isinstance(role_id, str) or not role_id:
            return _errors(400, "missing role_id")
        if role_id != ROLE_ID or secret_id != SECRET_ID:
            return _errors(400, "invalid role or secret ID")
        with self._state:
            self.logins += 1
            token = self.new_token(namespace)
        return _json(
            {
                "request_id": secrets.token_hex(8),
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": None,
                "warnings": None,
                "auth": {
                    "client_token": token,
                    "accessor": secrets.token_urlsafe(12),
                    "policies": ["default", "safeship"],
                    "token_policies": ["default", "safeship"],
                    "metadata": {"role_name": "safeship"},
                    "lease_duration": 1200,
                    "renewable": True,
                    "entity_id": secrets.token_hex(8),
                    "token_type": "service",
                    "orphan": True,
                },
            }
        )

    async def _read_data(self, request: web.Request) -> web.Response:
        refused = self._guard(request, self._api_path(request, "data"))
        if refused is not None:
            return refused
        if set(request.query) - {"version"}:
            return _errors(400, f"unknown query parameters: {sorted(request.query)}")
        text = request.query.get("version", "0")
        if not text.isdigit():
            return _errors(400, f'error converting input {text!r} for field "version"')
        with self._state:
            secret = self._tree(request).get(request.match_info["path"])
            number = int(text) or (secret.current_version if secret else 0)
            entry = secret.versions.get(number) if secret else None
            if secret is None or entry is None:
                return _errors(404)
            metadata = {
                "version": number,
                **entry.metadata(),
                "custom_metadata": secret.custom_metadata,
            }
            body = _envelope({"data": None if entry.gone() else entry.data, "metadata": metadata})
        return _json(body, status=404 if entry.gone() else 200)

    async def _write_data(self, request: web.Request) -> web.Response:
        refused = self._guard(request, self._api_path(request, "data"))
        if refused is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        if set(body) - {"data", "options"}:
            return _errors(400, f"unknown fields: {sorted(set(body) - {'data', 'options'})}")
        data, options = body.get("data"), body.get("options", {})
        if not isinstance(data, dict):
            return _errors(400, "no data provided")
        if not isinstance(options, dict) or set(options) - {"cas"}:
            return _errors(400, "options: only cas is known here")
        cas = options.get("cas")
        if cas is not None and (not isinstance(cas, int) or isinstance(cas, bool) or cas < 0):
            return _errors(400, "error parsing check-and-set parameter")
        with self._state:
            tree = self._tree(request)
            path = request.match_info["path"]
            secret = tree.get(path) or FakeSecret()
            if cas is not None and cas != secret.current_version:
                return _errors(400, "check-and-set parameter did not match the current version")
            if cas is None and secret.cas_required:
                return _errors(400, "check-and-set parameter required for this call")
            created = datetime.now(UTC)
            entry = FakeVersion(dict(data), _now())
            if secret.delete_version_after:
                after = created + timedelta(seconds=secret.delete_version_after)
                entry.deletion_time = after.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            secret.current_version += 1
            secret.versions[secret.current_version] = entry
            secret.updated_time = entry.created_time
            keep = secret.max_versions or _MAX_VERSIONS
            for old in sorted(secret.versions)[: max(0, len(secret.versions) - keep)]:
                del secret.versions[old]
            secret.oldest_version = min(secret.versions)
            tree[path] = secret
            answer = {
                "version": secret.current_version,
                **entry.metadata(),
                "custom_metadata": secret.custom_metadata,
            }
        return _json(_envelope(answer))

    async def _read_metadata(self, request: web.Request) -> web.Response:
        refused = self._guard(request, self._api_path(request, "metadata"))
        if refused is not None:
            return refused
        if request.query.get("list") == "true":
            return self._list(request)
        if request.query:
            return _errors(400, f"unknown query parameters: {sorted(request.query)}")
        with self._state:
            secret = self._tree(request).get(request.match_info["path"])
            if secret is None:
                return _errors(404)
            answer = {
                "versions": {str(n): v.metadata() for n, v in sorted(secret.versions.items())},
                "current_version": secret.current_version,
                "oldest_version": secret.oldest_version,
                "created_time": secret.created_time,
                "updated_time": secret.updated_time,
                "max_versions": secret.max_versions,
                "cas_required": secret.cas_required,
                "delete_version_after": _go_duration(secret.delete_version_after),
                "custom_metadata": secret.custom_metadata,
            }
        return _json(_envelope(answer))

    def _list(self, request: web.Request) -> web.Response:
        prefix = request.match_info["path"].rstrip("/") + "/"
        with self._state:
            keys: set[str] = set()
            for path in self._tree(request):
                if path.startswith(prefix):
                    head, slash, _ = path[len(prefix) :].partition("/")
                    keys.add(head + slash)
        if not keys:
            return _errors(404)
        return _json(_envelope({"keys": sorted(keys)}))

    async def _write_metadata(self, request: web.Request) -> web.Response:
        refused = self._guard(request, self._api_path(request, "metadata"))
        if refused is not None:
            return refused
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        known = {"max_versions", "cas_required", "delete_version_after", "custom_metadata"}
        if set(body) - known:
            return _errors(400, f"unknown fields: {sorted(set(body) - known)}")
        after = body.get("delete_version_after")
        seconds: int | None = None
        if isinstance(after, int) and not isinstance(after, bool) and after >= 0:
            seconds = after
        elif isinstance(after, str) and after and (found := _DURATION.match(after)):
            h, m, s = (int(part or 0) for part in found.groups())
            seconds = h * 3600 + m * 60 + s
        elif after is not None:
            return _errors(
                400, f'error converting input {after!r} for field "delete_version_after"'
            )
        custom = body.get("custom_metadata")
        if custom is not None:
            problem = _custom_metadata_problem(custom)
            if problem:
                return _errors(400, f"custom_metadata validation failed: {problem}")
        max_versions = body.get("max_versions")
        if max_versions is not None and (not isinstance(max_versions, int) or max_versions < 0):
            return _errors(400, 'error converting input for field "max_versions"')
        with self._state:
            tree = self._tree(request)
            secret = tree.setdefault(request.match_info["path"], FakeSecret())
            if seconds is not None:
                secret.delete_version_after = seconds
            if custom is not None:
                secret.custom_metadata = dict(custom)  # replaced whole, as Vault does
            if max_versions is not None:
                secret.max_versions = max_versions
            if isinstance(body.get("cas_required"), bool):
                secret.cas_required = body["cas_required"]
            secret.updated_time = _now()
        return web.Response(status=204)


def _custom_metadata_problem(custom: Any) -> str:
    if not isinstance(custom, dict):
        return "not a map"
    if len(custom) > 64:
        return f"payload must contain at most 64 keys, provided {len(custom)}"
    for key, value in custom.items():
        if not isinstance(value, str):
            return f"value for key {key!r} is not a string"
        if not 0 < len(key.encode()) <= 128:
            return f"length of key {key!r} must be 0 < len(key) <= 128"
        if not 0 < len(value.encode()) <= 512:
            return f"length of value for key {key!r} must be 0 < len(value) <= 512"
        if not (key.isprintable() and value.isprintable()):
            return f"key {key!r} or its value contains unprintable characters"
    return ""
