"""Who owns a task: the logged-in user, else the browser session that started it."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest

from live_progress.store import history, indexes
from live_progress.store.snapshot import Stored

SESSION_OWNER_KEY = "progress_owner"


def owner_for(*, user: AbstractBaseUser | AnonymousUser | None, session: SessionBase) -> str:
    """Who owns tasks started now: the logged-in user, else this browser session.

    A session gets a random owner token on its first task, kept in the session data
    so that it survives a login's session-key rotation.
    """
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    token = session.get(SESSION_OWNER_KEY)
    if not token:
        token = secrets.token_urlsafe(16)
        session[SESSION_OWNER_KEY] = token
    return f"session:{token}"


def existing_owner(
    *, user: AbstractBaseUser | AnonymousUser | None, session: SessionBase | None
) -> str | None:
    """The owner identity of this reader, without creating one (None for a new session)."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    token = session.get(SESSION_OWNER_KEY) if session is not None else None
    return f"session:{token}" if token else None


def resolve(owner: HttpRequest | str) -> str:
    """An owner given as a request (its user or session) or as an owner string."""
    if isinstance(owner, str):
        return owner
    return owner_for(user=getattr(owner, "user", None), session=owner.session)


def may_read(stored: Stored | dict[str, Any], *, owner: str | None, is_staff: bool) -> bool:
    """Only the task's owner, and staff, may see a task (ownerless tasks: staff only)."""
    return is_staff or (owner is not None and bool(owner) and stored.get("owner") == owner)


def on_login(sender: Any, request: HttpRequest, user: AbstractBaseUser, **_: Any) -> None:
    """A session's tasks become the user's when it logs in (connected to user_logged_in)."""
    token = request.session.pop(SESSION_OWNER_KEY, None)
    if not token:
        return
    old, new = f"session:{token}", f"user:{user.pk}"
    indexes.reassign(old_owner=old, new_owner=new)
    history.reassign(old_owner=old, new_owner=new)
