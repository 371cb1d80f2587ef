"""The query parameters every list shares: ``limit``, ``offset`` and ``order``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Query

from medsentry.api.schemas import Order, Page

T = TypeVar("T")

MAX_PAGE = 500
MAX_OFFSET = 10_000_000


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    offset: int
    desc: bool


def window(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip")] = 0,
    order: Annotated[Order, Query(description="Sort direction")] = "desc",
) -> Window:
    return Window(limit, offset, order == "desc")


def paged(items: list[T], total: int, w: Window) -> Page[T]:
    """The shared list answer: these items of ``total``, for the window asked."""
    return Page(items=items, total=total, limit=w.limit, offset=w.offset)
