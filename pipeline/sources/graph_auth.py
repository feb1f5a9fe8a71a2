"""App-only tokens for Microsoft Graph through MSAL: one application object per process.

MSAL caches app tokens inside its ConfidentialClientApplication, so the one object built
here (lazily, under a lock) serves every thread of the process. Secrets come only from
the environment; `credential_status()` says which are set without showing them.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .. import config
from .base import SourceError

if TYPE_CHECKING:
    import msal

#: Environment variables that configure the app; values of the secret ones are never shown.
CREDENTIAL_VARIABLES = (
    "GRAPH_TENANT_ID",
    "GRAPH_CLIENT_ID",
    "GRAPH_CLIENT_SECRET",
    "GRAPH_CLIENT_CERTIFICATE_PATH",
    "GRAPH_CLIENT_CERTIFICATE",
    "GRAPH_CLIENT_CERTIFICATE_THUMBPRINT",
)
#: Hosts MSAL knows; any other authority host is used without Microsoft's instance discovery.
_KNOWN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
    }
)

_lock = threading.Lock()
_app: msal.ConfidentialClientApplication | None = None  # built on first use
_app_key: tuple[str | None, ...] | None = None


def endpoint() -> str:
    """The Graph root, e.g. https://graph.microsoft.com (or a national cloud's)."""
    root: str = config.get("GRAPH_ENDPOINT")
    return root.rstrip("/")


def authority_host() -> str:
    host: str = config.get("GRAPH_AUTHORITY_HOST")
    return host.rstrip("/")


def scope() -> str:
    return f"{endpoint()}/.default"


def credential_status() -> dict[str, bool]:
    """Which credential variables are set (never their values)."""
    return {name: bool(config.get(name)) for name in CREDENTIAL_VARIABLES}


def _client_credential() -> str | dict[str, str]:
    secret: str = config.get("GRAPH_CLIENT_SECRET")
    if secret:
        return secret
    pem = config.get("GRAPH_CLIENT_CERTIFICATE")
    path = config.get("GRAPH_CLIENT_CERTIFICATE_PATH")
    if path:
        try:
            pem = Path(path).read_text()
        except OSError as exc:
            raise SourceError(f"cannot read GRAPH_CLIENT_CERTIFICATE_PATH: {exc}") from exc
    thumbprint = config.get("GRAPH_CLIENT_CERTIFICATE_THUMBPRINT")
    if pem and thumbprint:
        credential = {"private_key": pem, "thumbprint": thumbprint}
        if "BEGIN CERTIFICATE" in pem:  # send the chain too (x5c), for subject-name/issuer auth
            credential["public_certificate"] = pem
        return credential
    raise ValueError(
        "Graph credentials missing: set GRAPH_CLIENT_SECRET, or GRAPH_CLIENT_CERTIFICATE_PATH "
        "(PEM private key + certificate) and GRAPH_CLIENT_CERTIFICATE_THUMBPRINT"
    )


def _application() -> msal.ConfidentialClientApplication:
    """The process's one ConfidentialClientApplication (rebuilt only if its configuration changed)."""
    global _app, _app_key
    tenant, client_id = config.get("GRAPH_TENANT_ID"), config.get("GRAPH_CLIENT_ID")
    if not tenant or not client_id:
        raise ValueError("Graph app not configured: set GRAPH_TENANT_ID and GRAPH_CLIENT_ID")
    host = authority_host()
    key = (
        tenant,
        client_id,
        host,
        config.get("GRAPH_CLIENT_SECRET"),
        config.get("GRAPH_CLIENT_CERTIFICATE_PATH"),
        config.get("GRAPH_CLIENT_CERTIFICATE_THUMBPRINT"),
    )
    with _lock:
        if _app is not None and _app_key == key:
            return _app
        import msal

        if urlsplit(host).scheme != "https":
            raise ValueError(f"GRAPH_AUTHORITY_HOST must be an https URL, not {host!r}")
        known = urlsplit(host).hostname in _KNOWN_HOSTS
        try:
            _app = msal.ConfidentialClientApplication(
                client_id,
                client_credential=_client_credential(),
                authority=f"{host}/{tenant}",
                instance_discovery=None if known else False,
                timeout=_timeout(),
            )
        except ValueError:
            raise
        except Exception as exc:  # discovery of the authority failed (network, TLS...)
            raise SourceError(f"cannot reach the Graph token authority {host}: {type(exc).__name__}: {exc}") from exc
        _app_key = key
        return _app


def _timeout() -> tuple[float, float]:
    from .graph_client import timeouts

    return timeouts()


def access_token(*, refresh: bool = False) -> str:
    """A bearer token for Graph, from MSAL's cache unless `refresh` (after a 401)."""
    app = _application()
    try:
        if refresh:
            app.remove_tokens_for_client()
        result = app.acquire_token_for_client(scopes=[scope()])
    except Exception as exc:
        raise SourceError(f"cannot get a Graph token: {type(exc).__name__}: {exc}") from exc
    if "access_token" not in result:
        raise SourceError(f"Graph token refused: {result.get('error')}: {result.get('error_description', '')[:500]}")
    token: str = result["access_token"]
    return token
