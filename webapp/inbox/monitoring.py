"""Endpoints for machines: readiness, the pipeline's health, Prometheus metrics.

- `/health/ready`: database and Redis (the same checks as `/health/`);
- `/health/pipeline`: JSON for an uptime monitor; 503 when the scheduler missed two slots, no worker
  has a heartbeat, or dead letters pile up (webapp/inbox/services/health.py). Anyone gets the bare
  status; the report needs the metrics token (all of it) or a logged-in staff user (their mailboxes');
- `/metrics`: Prometheus text, only with `METRICS_TOKEN` set and sent as `Authorization: Bearer <token>`
  (404 while unset, 401 without the right token).
"""

from __future__ import annotations

import hmac

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from pipeline import config

from .services.access import visible_mailbox_ids
from .services.health import pipeline_health
from .views import health


@csrf_exempt
@require_safe
def health_ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and Redis answer."""
    return health(request)


@csrf_exempt
@require_safe
def health_pipeline(request: HttpRequest) -> JsonResponse:
    """The report names mailboxes, hosts and queue depths: only the status for anyone else."""
    user = request.user
    if _has_metrics_token(request):
        healthy, report = pipeline_health()
    elif user.is_authenticated and user.is_active and user.is_staff:
        healthy, report = pipeline_health(mailbox_ids=visible_mailbox_ids(user))
    else:
        healthy, full = pipeline_health()
        report = {"status": full["status"]}
    response = JsonResponse(report, status=200 if healthy else 503)
    patch_cache_control(response, no_store=True)
    return response


def _metrics_token() -> str:
    return config.get("METRICS_TOKEN")


def _has_metrics_token(request: HttpRequest) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>`, with the token set."""
    token = _metrics_token()
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@csrf_exempt
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not _metrics_token():
        raise Http404("metrics are off: set METRICS_TOKEN")
    if not _has_metrics_token(request):
        response = HttpResponse("a bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    from .services.metrics import render

    body, content_type = render()
    response = HttpResponse(body, content_type=content_type)
    patch_cache_control(response, no_store=True)
    return response
