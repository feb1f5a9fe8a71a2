"""Admin search: whatever a person types or pastes in a search box answers a page.

Django's changelist reads the query through a form: NUL is refused there already (PostgreSQL
text cannot hold it), and this one also refuses a query longer than MAX_SEARCH_LENGTH, because
every word becomes a condition per search field and SQLite refuses an expression deeper than
1000. A refused query shows its reason and lists everything, as an empty search does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.http import HttpRequest

#: Longest search query, in characters: a pasted subject line or file name fits.
MAX_SEARCH_LENGTH = 200


class BoundedSearchForm(ChangeListSearchForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields[SEARCH_VAR] = forms.CharField(required=False, strip=False, max_length=MAX_SEARCH_LENGTH)


class BoundedSearchChangeList(ChangeList):
    search_form_class = BoundedSearchForm


class BoundedSearch(admin.ModelAdmin):
    """Mix into a ModelAdmin: its changelist takes only queries the database can answer."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return BoundedSearchChangeList


def whole_number(text: str) -> int | None:
    """`text` as a non-negative integer when it is ASCII digits only, else None.

    str.isdigit() accepts "²" and other digits int() refuses; a search box gets all of them.
    """
    if text.isascii() and text.isdigit():
        return int(text)
    return None
