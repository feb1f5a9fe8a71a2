"""Admin search: whatever a person types or pastes in a search box answers a page.

Django's changelist reads the query through a form: NUL is refused there already (PostgreSQL
text cannot hold it), and this one also refuses a query longer than MAX_SEARCH_LENGTH, because
every word becomes a condition per search field and SQLite refuses an expression deeper than
1000. A refused query shows its reason and lists everything, as an empty search does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.db.models import Q, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest

from pipeline.dte.rut import parse_rut

#: Longest search query, in characters: a pasted subject line or file name fits.
MAX_SEARCH_LENGTH = 200
#: Lookups no list's URL may use (BoundedSearch.lookup_allowed).
REFUSED_LOOKUPS = frozenset({"regex", "iregex"})


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

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        """Django lets a list's URL filter any field with any lookup; a pattern from the URL (`__regex`) runs
        in the database, on SQLite as Python's re inside the web process, where `(a+)+$` takes it for
        minutes. Refused: a 400, as for any lookup the admin does not allow."""
        if REFUSED_LOOKUPS & set(lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)


def whole_number(text: str) -> int | None:
    """`text` as a non-negative integer when it is ASCII digits only, else None.

    str.isdigit() accepts "²" and other digits int() refuses; a search box gets all of them.
    """
    if text.isascii() and text.isdigit():
        return int(text)
    return None


#: Fewest digits of a RUT searched without its check digit: a shorter number is more likely a folio.
RUT_BODY_DIGITS = 6


def folio_or_rut(term: str, *, rut_fields: Sequence[str]) -> Q:
    """The rows `term` names as a folio ("4521"), a RUT in any of `rut_fields` ("76.086.428-5",
    "76086428-5") or a RUT without its check digit ("76086428"); an empty Q when it is none of them."""
    term = term.strip()
    found = Q()
    if (folio := whole_number(term)) is not None:
        found |= Q(folio=folio)
    rut = parse_rut(term)
    if rut.normalized and "-" in rut.normalized:
        for field in rut_fields:
            found |= Q(**{field: rut.normalized})
    body = term.replace(".", "").split("-")[0]
    if (number := whole_number(body)) is not None and len(body) >= RUT_BODY_DIGITS:
        for field in rut_fields:
            found |= Q(**{f"{field}__startswith": f"{number}-"})
    return found


def with_folio_or_rut(searched: QuerySet, listed: QuerySet, term: str, *, rut_fields: Sequence[str]) -> QuerySet:
    """`searched` (the name search's rows) and the rows of `listed` that `term` names by folio or RUT.

    `listed` is the queryset get_search_results was given: the user's rows with the list's filters
    on (mailbox, month, type...). Taking the matches from it, not from ModelAdmin.get_queryset, keeps
    a folio searched in one month's list from listing, and totalling, the same folio of another month.
    """
    extra = folio_or_rut(term, rut_fields=rut_fields)
    return searched | listed.filter(extra) if extra else searched
