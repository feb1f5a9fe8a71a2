"""Talk to a running web process as a person with a browser session would."""

from __future__ import annotations

import re

import requests


def admin_session(base_url: str, *, password: str, username: str = "admin") -> requests.Session:
    """A requests session logged in through the admin's own login form (CSRF and all)."""
    session = requests.Session()
    url = f"{base_url}/admin/login/"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', session.get(url, timeout=10).text).group(1)
    answer = session.post(
        url,
        data={"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
        headers={"Referer": url},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302, f"login refused: {answer.text[:300]}"
    return session
