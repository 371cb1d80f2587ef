"""Writing extracted files without ever leaving the extraction root or following links."""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from medsentry.protect.errors import DecompressionBombError, UnsafePathError

CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class UnpackLimits:
    """Bounds on what one scan may unpack; defaults suit images up to a few GiB."""

    max_depth: int = 8
    max_total_bytes: int = 4 * 1024**3
    max_files: int = 200_000
    # Expansion ratio of one compressed stream or archive member. Only checked once the
    # output passes ``ratio_floor_bytes``, so small, highly compressible files are fine.
    max_ratio: float = 250.0
    ratio_floor_bytes: int = 16 * 1024**2


class Budget:
    """Counts bytes and files across a whole scan and refuses to go past the limits."""

    def __init__(self, limits: UnpackLimits) -> None:
        self.limits = limits
        self.total_bytes = 0
        self.files = 0

    def add_file(self, where: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise DecompressionBombError(
                where,
                f"more than {self.limits.max_files} files would be unpacked "
                "(raise --max-files if the image is legitimately this large)",
            )

    def add_bytes(self, count: int, where: str) -> None:
        self.total_bytes += count
        if self.total_bytes > self.limits.max_total_bytes:
            raise DecompressionBombError(
                where,
                f"unpacking would exceed {_human(self.limits.max_total_bytes)} in total; "
                "this looks like a decompression bomb (raise --max-size-mb if the image is "
                "legitimately this large)",
            )

    def check_ratio(self, produced: int, consumed: int, where: str) -> None:
        limits = self.limits
        if produced > limits.ratio_floor_bytes and produced > consumed * limits.max_ratio:
            raise DecompressionBombError(
                where,
                f"{_human(consumed)} expands to more than {_human(produced)} "
                f"(ratio above {limits.max_ratio:g}:1); this looks like a decompression bomb "
                "(raise --max-ratio if the image is legitimate)",
            )


def _human(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover - loop always returns


def safe_member_path(name: str, where: str) -> str:
    """Normalise an archive member name to a relative POSIX path inside the root.

    Leading slashes are dropped (as GNU tar does); a ``..`` that would climb above the
    root refuses the whole archive.
    """
    cleaned = name.replace("\\", "/")
    if "\x00" in cleaned:
        raise UnsafePathError(where, f"member name {cleaned!r} contains a NUL byte")
    parts: list[str] = []
    for part in cleaned.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafePathError(
                    where,
                    f"member {name!r} would be written outside the extraction folder "
                    "(path traversal)",
                )
            parts.pop()
            continue
        parts.append(part)
    return posixpath.join(*parts) if parts else ""


def ensure_dir(root: Path, rel: str) -> Path:
    """Create ``root/rel`` as real directories, refusing any link or file on the way."""
    current = root
    for part in [p for p in rel.split("/") if p]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o700)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePathError(
                str(rel), f"{part!r} is already a file or link; refusing to write through it"
            )
    return current


def open_new_file(root: Path, rel: str) -> BinaryIO:
    """Open ``root/rel`` for writing; never follows a link, replaces an earlier regular file."""
    parent_rel, _, base = rel.rpartition("/")
    parent = ensure_dir(root, parent_rel)
    target = parent / base
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePathError(rel, "a directory or link already has this name")
        os.unlink(target)  # a later archive member with the same name wins, as in tar
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def copy_limited(
    src: Readable,
    root: Path,
    rel: str,
    budget: Budget,
    where: str,
    consumed: int | None = None,
) -> int:
    """Stream ``src`` into ``root/rel``, charging the budget and checking the ratio.

    ``consumed`` is the compressed size behind the stream when known, for the ratio test.
    """
    written = 0
    with open_new_file(root, rel) as out:
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            written += len(chunk)
            budget.add_bytes(len(chunk), where)
            if consumed is not None:
                budget.check_ratio(written, max(consumed, 1), where)
            out.write(chunk)
    return written


def is_inside(root: Path, candidate: Path) -> bool:
    """True when ``candidate`` resolves to a location under ``root``."""
    root_real = os.path.realpath(root)
    cand_real = os.path.realpath(candidate)
    return cand_real == root_real or cand_real.startswith(root_real + os.sep)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
