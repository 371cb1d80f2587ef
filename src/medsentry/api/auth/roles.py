"""Roles and what each may do: viewer reads, analyst also triages and uploads, admin also
manages accounts and reads the audit log."""

from __future__ import annotations

from enum import StrEnum

from medsentry.errors import InputError


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise InputError(f"unknown role {text!r}; choose one of: {names}") from None


_RANKS = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}
