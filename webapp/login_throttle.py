"""Login throttling with django-axes: the address a login came from, and the page a locked-out login gets.

LOGIN_FAILURE_LIMIT failed logins lock the account they named, and apart from it the address they
came from, for LOGIN_LOCKOUT_MINUTES (settings: AXES_*). A login refused for it gets the admin's login
page with the reason, in the browser's language, answered 429.
"""

from __future__ import annotations

import ipaddress

from axes.apps import AppConfig as AxesAppConfig
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

LOCKED_OUT_TEMPLATE = "login_locked_out.html"


class LoginAttemptsConfig(AxesAppConfig):
    """django-axes, under a name of ours in the admin's list of apps (axes has no Spanish of its own)."""

    verbose_name = _("Login attempts")


def client_address(request: HttpRequest) -> str | None:
    """The address a login came from.

    REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front of the web: each of them appends
    the address it was reached from to X-Forwarded-For, so the client's is that many entries from
    the right. Entries to the left of it are the client's own word, never taken. A request that did
    not pass through them all (too few entries, or not an address) counts by REMOTE_ADDR.
    """
    remote: str | None = request.META.get("REMOTE_ADDR")
    proxies: int = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """The admin's login page saying why the login was refused, and for how long."""
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    return render(request, LOCKED_OUT_TEMPLATE, context, status=429)
