"""The query parameters every list shares: ``limit``, ``offset`` and ``order``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

from medsentry.api.schemas import Order

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
