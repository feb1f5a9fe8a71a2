"""Inlines that show a parent's first rows and link to the rest: Django's inlines render every row.

A message of a few thousand attachments made a change page of megabytes; this one shows the
first `rows_shown` and a link to the related model's list, filtered by the parent, for all of them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse


class FirstRowsFormSet(BaseInlineFormSet):
    """The first `rows_shown` related rows; `rows_total` and `all_rows_url` tell of the rest."""

    rows_shown = 50

    def get_queryset(self) -> QuerySet[Any]:
        if not hasattr(self, "_first_rows"):
            every = super().get_queryset()
            self._first_rows = every[: self.rows_shown]
            shown = len(self._first_rows)
            self.rows_total = every.count() if shown == self.rows_shown else shown
        return self._first_rows

    @property
    def rows_hidden(self) -> int:
        self.get_queryset()
        return self.rows_total - len(self._first_rows)

    @property
    def all_rows_url(self) -> str:
        """The related model's admin list, filtered by this formset's parent."""
        opts = self.fk.model._meta
        lookup = f"{self.fk.name}__{self.fk.target_field.attname}__exact"
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        return f"{url}?{urlencode({lookup: self.instance.pk})}"


class FirstRowsInline(admin.TabularInline):
    """A tabular inline of the first `rows_shown` rows; the related model must have its own admin list."""

    template = "admin/inbox/first_rows_inline.html"
    rows_shown = FirstRowsFormSet.rows_shown

    def get_formset(self, request: HttpRequest, obj: Model | None = None, **kwargs: Any) -> type[BaseInlineFormSet]:
        formset = super().get_formset(request, obj, formset=FirstRowsFormSet, **kwargs)
        formset.rows_shown = self.rows_shown  # type: ignore[attr-defined]
        return formset
