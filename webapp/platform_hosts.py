"""Host names a platform sends to the web by itself reach only what they are sent for.

On Railway the settings allow its health check's host (pipeline.config.platform_hosts), which
Railway sends to the health check path; any other path asked for under that host is answered 400,
as a host that is not allowed at all is, and off Railway the host is not allowed anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port

from pipeline.config import RAILWAY_HEALTHCHECK_HOST

#: The paths of the probes (webapp/inbox/urls.py), the only ones the health check's host may ask for.
HEALTH_PREFIX = "/health/"


class HealthCheckHostMiddleware:
    """Refuses every path outside /health/ asked for under Railway's health check host."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        domain, _port = split_domain_port(request.META.get("HTTP_HOST", ""))
        if domain == RAILWAY_HEALTHCHECK_HOST and not request.path.startswith(HEALTH_PREFIX):
            raise DisallowedHost(f"{domain} is Railway's health check: it may ask for {HEALTH_PREFIX} only")
        return self.get_response(request)
