"""Logins are throttled per account and per address (django-axes): LOGIN_FAILURE_LIMIT (5) failures lock
either for LOGIN_LOCKOUT_MINUTES (15), the refusal is the admin's login page saying why (in Spanish for a
Spanish browser), and the lockouts are listed in the admin (issue 21, Low 6)."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

SPANISH = {"HTTP_ACCEPT_LANGUAGE": "es-CL,es;q=0.9"}
LOCKED_OUT_ES = "Demasiados inicios de sesión fallidos"
PASSWORDS = {"alicia": "alicia-Clave-correcta-1", "bruno": "bruno-Clave-correcta-2"}
LIMIT = 5


@pytest.fixture(autouse=True)
def clerks():
    for username, password in PASSWORDS.items():
        User.objects.create_user(username, password=password, is_staff=True)


def log_in(username: str, password: str, *, address: str, **headers: str):
    """One POST to the admin's login form from `address`, as a fresh browser would send it."""
    return Client(REMOTE_ADDR=address, **SPANISH).post(
        reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"}, **headers
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def test_five_wrong_passwords_then_the_right_one_is_refused_with_a_spanish_page_in_the_admins_look():
    answers = [log_in("alicia", f"wrong-{n}", address="10.0.0.1") for n in range(LIMIT)]
    assert [a.status_code for a in answers[:-1]] == [200] * (LIMIT - 1), "the form again, with its error"
    refused = log_in("alicia", PASSWORDS["alicia"], address="10.0.0.1")
    assert refused.status_code == 429 and not logged_in(refused)
    page = refused.content.decode()
    assert LOCKED_OUT_ES in page and "15 minutos" in page, page
    assert "admin/css/login.css" in page and 'id="header"' in page, "the admin's login page, not a bare text"
    assert answers[-1].status_code == 429, "the failure that reaches the limit is told at once"


def test_another_account_from_another_address_still_logs_in():
    for n in range(LIMIT):
        log_in("alicia", f"wrong-{n}", address="10.0.0.1")
    assert logged_in(log_in("bruno", PASSWORDS["bruno"], address="10.0.0.2"))


def test_a_locked_account_is_locked_from_every_address():
    for n in range(LIMIT):
        log_in("alicia", f"wrong-{n}", address=f"10.0.1.{n}")
    assert log_in("alicia", PASSWORDS["alicia"], address="10.0.2.1").status_code == 429


def test_a_locked_address_is_locked_for_every_account():
    for n in range(LIMIT):
        log_in(f"guess-{n}", "wrong", address="10.0.0.9")
    assert log_in("bruno", PASSWORDS["bruno"], address="10.0.0.9").status_code == 429
    assert logged_in(log_in("bruno", PASSWORDS["bruno"], address="10.0.0.10"))


def test_the_lock_ends_after_the_lockout_minutes():
    for n in range(LIMIT):
        log_in("alicia", f"wrong-{n}", address="10.0.0.1")
    AccessAttempt.objects.update(attempt_time=timezone.now() - dt.timedelta(minutes=16))
    assert logged_in(log_in("alicia", PASSWORDS["alicia"], address="10.0.0.1"))


def test_the_lockouts_are_listed_in_the_admin_in_spanish(admin_client):
    for n in range(LIMIT):
        log_in("alicia", f"wrong-{n}", address="10.0.0.1")
    index = admin_client.get(reverse("admin:index"), **SPANISH).content.decode()
    assert "Intentos de inicio de sesión" in index and "Intentos de acceso" in index
    attempts = admin_client.get(reverse("admin:axes_accessattempt_changelist"), **SPANISH).content.decode()
    assert "alicia" in attempts and "10.0.0.1" in attempts and "Bloqueado" in attempts


def test_without_trusted_proxies_x_forwarded_for_is_ignored():
    for n in range(LIMIT):
        log_in(f"guess-{n}", "wrong", address="10.0.0.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}
    assert log_in("bruno", PASSWORDS["bruno"], address="10.0.0.1").status_code == 429


def test_behind_a_trusted_proxy_the_address_is_the_one_it_appended(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.1"
    for n in range(LIMIT):  # the client writes its own entries at the left: they count for nothing
        log_in(f"guess-{n}", "wrong", address=proxy, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.7")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.7"}
    assert log_in("bruno", PASSWORDS["bruno"], address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert logged_in(log_in("bruno", PASSWORDS["bruno"], address=proxy, HTTP_X_FORWARDED_FOR="203.0.113.8"))


def test_logging_in_to_ones_own_account_does_not_wipe_the_failures_against_another():
    """A clerk guessing a colleague's password, with a good login of their own between guesses, is stopped."""
    for n in range(LIMIT - 2):
        log_in("alicia", f"guess-{n}", address="10.0.0.7")
    assert logged_in(log_in("bruno", PASSWORDS["bruno"], address="10.0.0.7"))
    for n in range(2):
        log_in("alicia", f"guess-again-{n}", address="10.0.0.7")
    assert log_in("alicia", PASSWORDS["alicia"], address="10.0.0.9").status_code == 429


def test_a_failed_login_hashes_the_password_once_and_counts_once(monkeypatch):
    """Two password backends are listed (settings.py: the second keeps old sessions valid); a wrong
    password or an unknown account must not make the web hash it twice."""
    from django.contrib.auth import hashers

    hashed: list[str] = []
    for hasher in hashers.get_hashers():
        original = type(hasher).encode

        def counted(self, password, salt, *args, _original=original, **kwargs):
            hashed.append(password)
            return _original(self, password, salt, *args, **kwargs)

        monkeypatch.setattr(type(hasher), "encode", counted)
    for username in ("alicia", "nadie"):
        hashed.clear()
        assert not logged_in(log_in(username, "clave-equivocada", address="10.1.1.1"))
        assert len(hashed) == 1, username
    assert sorted(a.failures_since_start for a in AccessAttempt.objects.all()) == [1, 1]
    assert logged_in(log_in("bruno", PASSWORDS["bruno"], address="10.1.1.2"))
