"""The builtin router process: a weighted reverse proxy with an admin API on a Unix socket.

Run as ``python -m safeship.routing.proxy --port P --state-dir DIR``. It lives on its own
(BuiltinRouter starts it detached) so traffic keeps flowing when the safeship command exits.
It runs on uvloop where that is installed.

Modules: ``balancing`` (weighted round-robin, sticky sessions), ``state`` (backends, counters,
files), ``server`` (routing and forwarding), ``connections`` (client connections and their
deadlines), ``headers`` (what is forwarded each way), ``admin`` (the admin API), ``process``
(arguments, listeners, start and stop). Importing this package loads only ``balancing`` and
``state`` (no aiohttp), for the other routers that share them.

Public listener, 127.0.0.1:P: every request goes to a release chosen by the weights, its
response carries ``X-Safeship-Release: NAME``. Bodies stream both ways, never held whole.
Upstream connections are kept alive in one pool. A refused connect (the release is down) is
retried once on another release: the request never reached the first, and no body byte had
been taken from the client yet. A request target in absolute form (``GET http://host/x``) is
forwarded by its path and query, with its host as Host; ``*`` and authority-form targets get
400. A client connection must send each request's head within ``--header-timeout`` seconds
(from connecting, or from its first byte after a response) and is closed after
``--idle-timeout`` seconds without a request.

Sticky sessions (``--sticky cookie|header --sticky-name NAME``, changeable through the admin
API): in cookie mode a client without the cookie is routed by the weights and gets a cookie
naming the release that answered; with it, it goes back to that release while the release has
weight (else by the weights, and the cookie is replaced). In header mode the header's value is
hashed into [0, 100) and looked up in the cumulative weights, in list order: each release's
range grows or shrinks at its ends only, so the users of a canary going 10 -> 50 stay on it.

Files in DIR (0700; files 0600, whatever the umask):
  router.json    {"pid", "start_ticks", "port", "admin_socket", "started_at"}, written once
                 both listeners are bound and removed on exit; how clients find the admin API.
                 start_ticks (safeship._processes) tells this process from a later one that
                 got the same pid.
  backends.json  {"backends": [...]}, rewritten on every change and loaded at start, so a
                 restarted router serves the same weights.
  admin/admin.sock  the admin API (see safeship.routing.proxy.admin), in its own 0700
                 directory; only the owner can connect.

Stats (``GET /admin/stats``) are cumulative per release, plus ``in_flight``: requests sent to
the release whose response has not been passed on whole yet (a drain waits for 0).

Exit codes: 0 after a graceful stop, 2 for an unreadable backends.json, 3 when the listen port
is in use, 1 for other start-up failures. Each failure prints one line to stderr.
"""

from safeship.routing.proxy.balancing import HashSplit, Sticky, WeightedRoundRobin, hash_bucket
from safeship.routing.proxy.state import (
    RELEASE_HEADER,
    Counters,
    admin_socket_path,
    backends_to_json,
    load_backends,
    parse_backends,
)

__all__ = [
    "RELEASE_HEADER",
    "Counters",
    "HashSplit",
    "Sticky",
    "WeightedRoundRobin",
    "admin_socket_path",
    "backends_to_json",
    "hash_bucket",
    "load_backends",
    "parse_backends",
]
