"""The one place that builds Redis clients: the broker, locks, heartbeats, health checks, wake-ups.

Every client gets the timeouts of `config.redis_client_options`. A `rediss://` URL is TLS with the
server's certificate and host name checked, against the system's CAs plus `REDIS_TLS_CA_FILE` when
set; `REDIS_TLS_VERIFY=false` turns the check off, for a provider whose certificate is self-signed
and changes with its URL (Heroku Redis). A refused certificate fails with a one-line error that says
which of the two to set. redis-py's `ssl_*` query options in the URL still win over these.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from . import config

#: What to do when the server's certificate is refused, added to redis-py's own message.
CERTIFICATE_HINT = (
    "Set REDIS_TLS_CA_FILE to the CA that signed the Redis server's certificate,"
    " or REDIS_TLS_VERIFY=false to connect without checking it."
)


class CheckedSSLConnection(redis.SSLConnection):
    """redis-py's TLS connection, whose error for a refused certificate says what to set."""

    def _error_message(self, exception: BaseException) -> str:
        message: str = super()._error_message(exception)  # type: ignore[no-untyped-call]
        if isinstance(exception, ssl.SSLCertVerificationError):
            return f"{message} {CERTIFICATE_HINT}"
        return message


def certificate_refused(exc: BaseException) -> bool:
    """Whether `exc` is a refused server certificate (its message names the host and port, and what to set)."""
    return CERTIFICATE_HINT in str(exc)


def is_tls(url: str) -> bool:
    return urlsplit(url).scheme == "rediss"


def tls_options(url: str) -> dict[str, Any]:
    """redis-py's options for `url`: none for redis://, the certificate checks for rediss://."""
    if not is_tls(url):
        return {}
    if not config.get("REDIS_TLS_VERIFY"):
        return {"connection_class": CheckedSSLConnection, "ssl_cert_reqs": "none", "ssl_check_hostname": False}
    options: dict[str, Any] = {
        "connection_class": CheckedSSLConnection,
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
    }
    ca_file = config.get("REDIS_TLS_CA_FILE")
    if ca_file:
        if not Path(ca_file).is_file():
            raise config.ConfigError(f"REDIS_TLS_CA_FILE={ca_file!r} is not a file; set it to the CA's PEM file")
        options["ssl_ca_certs"] = ca_file
    return options


def connect(url: str | None = None, **overrides: Any) -> redis.Redis:
    """A client of `url` (default: REDIS_URL, else the embedded Redis); `overrides` replace any option."""
    url = url or config.redis_url()
    return redis.Redis.from_url(url, **{**config.redis_client_options(), **tls_options(url), **overrides})
