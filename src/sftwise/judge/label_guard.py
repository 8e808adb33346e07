"""Who may talk to ``sftwise label``: the checks that keep other websites out of a local labelling app.

Binding 127.0.0.1 keeps other machines out, not other web pages: any page the annotator visits can
send requests to ``http://127.0.0.1:PORT``. A plain ``<form>`` or a ``fetch`` with a ``text/plain``
body needs no CORS preflight, so without these checks such a page could write, overwrite or delete
labels; and a DNS-rebinding page (its own domain re-pointed at 127.0.0.1) is same-origin to the
browser, so it could read the items and the export. Each check closes one of these holes, as
Jupyter's server does:

* a random **token**, new at each start of the server, in the link the CLI prints; every ``/api/``
  call carries it (header ``X-Sftwise-Token`` from the page, or ``?token=`` on a link). Another page
  cannot read it: the same-origin policy hides our responses and URL from it.
* the **Host** header must name the bound address: a rebinding page's requests carry its own domain.
* **writes** must come from our own origin (``Origin``, or ``Referer`` where a browser sends no
  ``Origin``), and carry a JSON body: ``text/plain`` and form bodies were the cross-site vector.

The checks are pure functions of the request's method, path and headers, so they are tested alone
and the handler applies them in one place before any route runs.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import parse_qs, urlparse

TOKEN_HEADER = "X-Sftwise-Token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})

# on every response: no MIME sniffing, no framing (clickjacking), no token leaking through Referer
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # the app's page replaces this with its own policy (its script by hash); JSON and messages run no script
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def new_token() -> str:
    """A fresh secret for one start of the server (about 190 bits; URL-safe, so it fits in a link)."""
    return secrets.token_urlsafe(32)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` header values that name this server (``name:port``, lower case).

    Loopback names always; the bound address itself; for a wildcard bind (``0.0.0.0``) the machine's
    own names, since colleagues then reach it by name. IP literals are matched separately
    (:func:`host_allowed`): DNS rebinding needs a domain name, never an address.
    """
    names = {"127.0.0.1", "localhost", "[::1]", host.lower()}
    if host in WILDCARD_HOSTS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset(f"{name}:{port}" for name in names if name)


def host_allowed(header: str | None, host: str, port: int, allowed: frozenset[str]) -> bool:
    """Whether a request's ``Host`` header names this server (and not a rebinding page's domain)."""
    if not header:
        return False
    value = header.strip().lower()
    if value in allowed:
        return True
    if host in WILDCARD_HOSTS:  # reached through any of the machine's addresses
        name, sep, got_port = value.rpartition(":")
        return bool(sep) and got_port == str(port) and _is_ip(name)
    return False


def token_of(path: str, headers: Mapping[str, str]) -> str | None:
    """The token a request carries: the ``X-Sftwise-Token`` header, else ``?token=`` in the URL."""
    got = headers.get(TOKEN_HEADER)
    if got:
        return got
    values = parse_qs(urlparse(path).query).get("token")
    return values[0] if values else None


def token_ok(got: str | None, token: str) -> bool:
    """Constant-time comparison, so the time taken does not reveal how much of a guess was right."""
    return got is not None and hmac.compare_digest(got.encode(), token.encode())


def _origin_of(headers: Mapping[str, str]) -> str | None:
    """The origin a browser says the request comes from: ``Origin``, else the scheme and host of ``Referer``."""
    origin = headers.get("Origin")
    if origin is not None:
        return origin.strip().lower()
    referer = headers.get("Referer")
    if referer is None:
        return None
    url = urlparse(referer.strip())
    return f"{url.scheme}://{url.netloc}".lower()


def refusal(method: str, path: str, headers: Mapping[str, str], token: str, host: str, port: int,
            allowed: frozenset[str]) -> tuple[int, str] | None:
    """Why a request is refused (HTTP status, message), or ``None`` when it may proceed.

    The page itself (``/``) needs only a good ``Host``: it holds no data, and without a token in its
    address it tells the annotator to open the link the CLI printed.
    """
    host_header = headers.get("Host")
    if not host_allowed(host_header, host, port, allowed):
        return HTTPStatus.FORBIDDEN, (f"Host {host_header!r} is not this server's address; open the link sftwise label printed "
                                      f"(http://127.0.0.1:{port}/?token=...)")
    if method in WRITE_METHODS:
        origin = _origin_of(headers)
        if origin is not None and origin != f"http://{host_header.strip().lower()}":
            return HTTPStatus.FORBIDDEN, f"cross-origin request from {origin!r} refused"
    if not urlparse(path).path.startswith("/api/"):
        return None
    if not token_ok(token_of(path, headers), token):
        return HTTPStatus.FORBIDDEN, (f"missing or wrong token: open the link sftwise label printed (with ?token=...); "
                                      f"it changes at each start of the server")
    if method in WRITE_METHODS:
        media = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media != "application/json":
            return HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Content-Type {media or 'none'!r}: the API takes application/json bodies only"
    return None
