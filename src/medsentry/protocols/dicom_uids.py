"""Names and properties of DICOM UIDs (SOP classes, transfer syntaxes), from pydicom's
dictionary of the standard's registry."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
VERIFICATION = "1.2.840.10008.1.1"
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"


_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def is_valid_uid(uid: str) -> bool:
    """Dotted numbers without leading zeros, at most 64 characters (PS3.5 9.1)."""
    return len(uid) <= 64 and _UID.fullmatch(uid) is not None


@dataclass(frozen=True, slots=True)
class TransferSyntax:
    explicit_vr: bool
    little_endian: bool
    deflated: bool


@lru_cache(maxsize=4096)
def uid_name(uid: str) -> str | None:
    """The registered name of a UID (``CT Image Storage``), or None for private UIDs."""
    if not is_valid_uid(uid):
        return None
    from pydicom.uid import UID  # imported late: only flows that carry DICOM pay for it

    name = str(UID(uid).name)
    return None if name == uid else name


@lru_cache(maxsize=256)
def uid_kind(uid: str) -> str | None:
    """``SOP Class``, ``Transfer Syntax``, ``Application Context Name``... or None."""
    if not is_valid_uid(uid):
        return None
    from pydicom.uid import UID

    kind = str(UID(uid).type)
    return kind or None


@lru_cache(maxsize=256)
def transfer_syntax(uid: str) -> TransferSyntax | None:
    """How a data set is encoded under this transfer syntax; None if it is not one."""
    if not is_valid_uid(uid):
        return None
    from pydicom.uid import UID

    ts = UID(uid)
    if not ts.is_transfer_syntax:
        return None
    return TransferSyntax(
        explicit_vr=not ts.is_implicit_VR,
        little_endian=bool(ts.is_little_endian),
        deflated=bool(ts.is_deflated),
    )


def is_storage(uid: str) -> bool:
    name = uid_name(uid) or ""
    return uid_kind(uid) == "SOP Class" and "Storage" in name and "Commitment" not in name


def is_query_retrieve(uid: str) -> bool:
    return "Query/Retrieve" in (uid_name(uid) or "")
