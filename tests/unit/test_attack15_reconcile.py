"""The reconciliation page's page number from the URL: "²" is a digit to str.isdigit() but not to int(),
and 5000 digits are more than int() reads; neither may answer an error page."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["²", "9" * 5000, "-1", "0"])
def test_a_hostile_page_number_shows_a_page(admin_client, page):
    response = admin_client.get(reverse("admin:register_reconciliation_changelist"), {"page": page})
    assert response.status_code == 200
