"""Django's ModelBackend with a user's permissions read in one query, theirs and their groups' together.

ModelBackend reads a user's own permissions and their groups' in two queries, on every request that
asks one (every admin page does): here one query reads both, and fills the same caches, so
get_user_permissions and get_group_permissions answer as before.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest


class OneQueryModelBackend(ModelBackend):
    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        """As ModelBackend's; a wrong password or an unknown user ends the login here, failed (axes counts it).

        ModelBackend stays listed after this one only so that sessions it opened stay valid
        (settings.py): it must not hash the same wrong password a second time.
        """
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and username is not None and password is not None:
            raise PermissionDenied
        return user

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                return super().get_all_permissions(user_obj, obj)
            rows = (
                Permission.objects.filter(Q(user=user_obj) | Q(group__user=user_obj))
                .values_list("content_type__app_label", "codename")
                .distinct()
                .order_by()
            )
            user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in rows}
        return user_obj._perm_cache
