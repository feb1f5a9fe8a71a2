"""HTTP to Microsoft Graph: timeouts, the per-mailbox request limit, Retry-After, bounded retries.

Every request sends `Prefer: IdType="ImmutableId"` (ids survive a move), holds one slot of
the mailbox's semaphore while in flight, and has connect and read timeouts (a blocked read
is never interrupted by Dramatiq's TimeLimit). Transport failures end as SourceError.

The bearer token goes only to the Graph endpoint (GRAPH_ENDPOINT): a link Graph hands back
(`@odata.nextLink`) and any redirect are followed only on that scheme, host and port; anything
else ends the request as ForeignHost, before a byte is sent there.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from .. import config
from . import graph_auth
from .base import CHUNK_SIZE, MessageGone, SourceError
from .graph_slots import Slot, mailbox_semaphore

logger = logging.getLogger(__name__)

#: Statuses that carry Retry-After, and those retried with our own backoff.
THROTTLED = {429, 503}
RETRIED = {500, 502, 504}
_PREFER = 'IdType="ImmutableId"'
_local = threading.local()


def timeouts() -> tuple[float, float]:
    """(connect, read) seconds for every call: GRAPH_CONNECT_TIMEOUT, GRAPH_READ_TIMEOUT."""
    return config.get("GRAPH_CONNECT_TIMEOUT"), config.get("GRAPH_READ_TIMEOUT")


class NotFound(Exception):
    """Graph answered 404 (the item is not there)."""


class ForeignHost(SourceError):
    """Graph pointed at a URL on another host (a link or a redirect): not followed, no token sent."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def check_graph_url(url: str, *, graph: str) -> str:
    """`url` when it is on the origin of `graph` (scheme, host, port); ForeignHost otherwise.

    The reason is shown on the run in the admin, so it names no host; the log does.
    """
    if _origin(url) != _origin(graph) or not _origin(graph)[1]:
        logger.warning("Graph pointed at %s, off the Graph endpoint %s: not followed", urlsplit(url).netloc, graph)
        raise ForeignHost(
            "Graph answered with a link to another host; it was not followed and the access token was not sent there"
        )
    return url


class _GraphSession(requests.Session):
    """A session that follows a redirect only to the origin the request went to; requests would
    follow one anywhere (dropping the Authorization header, but taking what the other host sends)."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            try:
                check_graph_url(urljoin(resp.url, target), graph=resp.url)
            except ForeignHost:
                resp.close()
                raise
        return target


def _session() -> requests.Session:
    """One session per thread (connection reuse; REQUESTS_CA_BUNDLE applies to it)."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = _GraphSession()
    return session


class GraphClient:
    """Requests for one mailbox (`user` is its UPN or id)."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.base = f"{graph_auth.endpoint()}/v1.0/users/{user}"
        self.max_attempts = config.get("GRAPH_MAX_ATTEMPTS")
        self.backoff = config.get("GRAPH_BACKOFF_SECONDS")
        self.max_retry_after = config.get("GRAPH_MAX_RETRY_AFTER")
        self.semaphore = mailbox_semaphore(
            user,
            limit=config.get("GRAPH_MAX_CONCURRENCY"),
            ttl=config.get("GRAPH_SLOT_TTL"),
            wait=config.get("GRAPH_SLOT_WAIT"),
        )

    def url(self, path: str) -> str:
        """A path under the mailbox, or a whole URL Graph gave (a nextLink) if it is on the Graph endpoint."""
        if not urlsplit(path).scheme:
            return f"{self.base}{path}"
        return check_graph_url(path, graph=self.base)

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.request("GET", path, params=params)

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink to the end."""
        page = self.get_json(path, params)
        while True:
            yield from page.get("value", [])
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return
            page = self.get_json(next_link)

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        with self._response(method, path, params=params, json=json, stream=False) as (response, _slot):
            if response.status_code == 204 or not response.content:
                return {}
            body: dict[str, Any] = response.json()
            return body

    def stream(self, path: str) -> Iterator[bytes]:
        """The raw bytes at `path` (a `$value`), in chunks; retried while nothing was delivered yet."""
        for attempt in range(1, self.max_attempts + 1):
            delivered = False
            try:
                with self._response("GET", path, stream=True) as (response, slot):
                    for chunk in response.iter_content(CHUNK_SIZE):
                        if chunk:
                            delivered = True
                            slot.renew()
                            yield chunk
                return
            except (requests.RequestException, OSError) as exc:
                if delivered or attempt == self.max_attempts:
                    raise SourceError(f"download of {path} broke off: {type(exc).__name__}: {exc}") from exc
                self._pause(attempt, f"download of {path} failed before any byte ({type(exc).__name__})")

    def _response(self, method: str, path: str, **kwargs: Any) -> _Exchange:
        return _Exchange(self, method, self.url(path), kwargs)

    def _pause(self, attempt: int, why: str, retry_after: float | None = None) -> None:
        if retry_after is None:
            delay = min(self.backoff * 2 ** (attempt - 1), 30) * random.uniform(0.8, 1.2)
        else:
            delay = retry_after
        logger.warning(
            "Graph %s: %s; waiting %.1fs (attempt %d of %d)", self.user, why, delay, attempt, self.max_attempts
        )
        time.sleep(delay)


class _Exchange:
    """Context manager: a successful response (and its slot), after retries; closed on exit."""

    def __init__(self, client: GraphClient, method: str, url: str, kwargs: dict[str, Any]) -> None:
        self.client, self.method, self.url, self.kwargs = client, method, url, kwargs
        self._slot_cm: AbstractContextManager[Slot] | None = None
        self._response: requests.Response | None = None

    def __enter__(self) -> tuple[requests.Response, Slot]:
        client = self.client
        refresh_at: int | None = None  # after a 401, the attempt that asks MSAL for a fresh token, once
        attempt = 0
        while True:
            attempt += 1
            token = graph_auth.access_token(refresh=attempt == refresh_at)
            self._slot_cm = client.semaphore.slot()
            slot = self._slot_cm.__enter__()
            try:
                response = _session().request(
                    self.method,
                    self.url,
                    timeout=timeouts(),
                    allow_redirects=True,
                    headers={"Authorization": f"Bearer {token}", "Prefer": _PREFER, "Accept": "application/json"},
                    **self.kwargs,
                )
            except ForeignHost:
                self._release()
                raise
            except (requests.RequestException, OSError) as exc:
                self._release()
                if attempt >= client.max_attempts:
                    raise SourceError(f"Graph {self.method} {self.url} failed: {type(exc).__name__}: {exc}") from exc
                client._pause(attempt, f"{type(exc).__name__} on {self.method} {self.url}")
                continue
            status = response.status_code
            if status < 400:
                self._response = response
                return response, slot
            body = _error_text(response)
            response.close()
            self._release()
            if status == 401 and refresh_at is None:
                refresh_at = attempt + 1
                continue
            if status == 404:
                raise NotFound(f"{self.url}: {body}")
            if (status in THROTTLED or status in RETRIED) and attempt < client.max_attempts:
                retry_after = _retry_after(response) if status in THROTTLED else None
                if retry_after is not None and retry_after > client.max_retry_after:
                    raise SourceError(f"Graph asks to wait {retry_after:.0f}s ({status}); trying again at a later run")
                client._pause(attempt, f"HTTP {status} on {self.method} {self.url}", retry_after)
                continue
            raise SourceError(f"Graph {self.method} {self.url} answered {status}: {body}")

    def __exit__(self, *exc_info: object) -> None:
        if self._response is not None:
            self._response.close()
        self._release()

    def _release(self) -> None:
        if self._slot_cm is not None:
            cm, self._slot_cm = self._slot_cm, None
            cm.__exit__(None, None, None)


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # an HTTP date or nothing: our own backoff


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):  # not Graph's shape (a proxy's page, a bare string): the text as it came
        return response.text[:300]
    return f"{error.get('code', '')}: {error.get('message', '')}"[:500]


__all__ = ["ForeignHost", "GraphClient", "MessageGone", "NotFound", "SourceError", "check_graph_url", "timeouts"]
