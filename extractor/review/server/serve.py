"""Running the review app: the store's output lock for the server's life, a random token, the URL
(with the token) as the first line of standard output, then uvicorn until Ctrl-C."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sys
from pathlib import Path

from ...errors import ConfigurationError
from ...sinks import output_lock


def serve(store_path: Path, *, host: str = "127.0.0.1", port: int = 8765, reviewer: str = "reviewer") -> None:
    """Serve the review app over the store until interrupted; refused if anything else writes the store."""
    import uvicorn

    from .app import create_app
    from .store import ReviewStore

    with output_lock(store_path):
        store = ReviewStore(store_path, reviewer)
        try:
            listener = socket.create_server((host, port))
        except OSError as e:
            store.close()
            raise ConfigurationError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        token = secrets.token_urlsafe(24)
        bound = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"http://{shown}:{bound}/?token={token}", flush=True)
        print(f"review server for {store_path} ({len(store.queue)} flagged values); Ctrl-C stops it", file=sys.stderr)
        hosts = _loopback_names(host)
        if hosts is None:
            where = "every address" if host in ("0.0.0.0", "::", "") else "the network"
            print(f"warning: listening on {shown} ({where}): anyone who can reach this machine can try the token; "
                  "--host 127.0.0.1 keeps the server to this machine", file=sys.stderr)
        # No access log: the first request's address carries the token.
        config = uvicorn.Config(create_app(store, token, hosts=hosts), log_level="warning", access_log=False)
        try:
            uvicorn.Server(config).run(sockets=[listener])
        finally:
            listener.close()
            store.close()


def _loopback_names(host: str) -> frozenset[str] | None:
    """The names a request to a loopback server may be addressed to (DNS rebinding gets a 400); None
    for a server reachable from the network, which answers to whatever name it is reached by."""
    from .app import LOOPBACK_NAMES

    if host == "localhost":
        return LOOPBACK_NAMES
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        return None
    return LOOPBACK_NAMES | {host} if loopback else None
