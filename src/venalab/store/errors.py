"""Errors of the storage layer; the web layer maps each to one HTTP status.

NotFound      -> 404   no such exam, version, user, patient or token
Conflict      -> 409   stale `expected_version`, or a concurrent writer won the race
Forbidden     -> 403   the user's role (or a disabled account) does not allow the action
InvalidState  -> 409   the action does not fit the record's state (sign a signed version,
                       save a draft over a signed exam, amend without a reason)
InvalidValue  -> 422   an argument is not acceptable (short password, unknown role)
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class: every error the store raises on purpose."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    """The record changed since the caller read it; nothing was written."""

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version


class Forbidden(StoreError):
    pass


class InvalidState(StoreError):
    pass


class InvalidValue(StoreError, ValueError):
    """An argument the store refuses; `field` names it (e.g. "password", "role")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
