"""Byte sources for capture readers: plain or gzip-compressed files, with progress."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO

from medsentry.errors import CaptureError

GZIP_MAGIC = b"\x1f\x8b"


class ByteSource:
    """Sequential reads from a capture file, decompressing gzip transparently.

    ``position`` counts bytes delivered (decompressed offset); ``raw_position`` the
    bytes consumed from the file itself, for progress bars.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        try:
            self._raw: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise CaptureError(self.name, 0, f"cannot open file: {exc.strerror}") from exc
        self.size = self.path.stat().st_size
        head = self._raw.read(2)
        self._raw.seek(0)
        self.compressed = head == GZIP_MAGIC
        self._stream: IO[bytes] | gzip.GzipFile = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        )
        self.position = 0

    @property
    def raw_position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return self.size

    def read(self, n: int) -> bytes:
        try:
            data = self._stream.read(n)
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise CaptureError(
                self.name, self.position, f"compressed data is corrupt or truncated ({exc})"
            ) from exc
        self.position += len(data)
        return data

    def read_after(self, head: bytes, n: int, slack: int) -> tuple[bytearray, int]:
        """A fresh buffer holding ``head`` then up to ``n`` new bytes, followed by ``slack``
        zero bytes; returns (buffer, bytes of data in it). One copy, no concatenation."""
        buf = bytearray(len(head) + n + slack)
        buf[: len(head)] = head
        view = memoryview(buf)
        filled = len(head)
        try:
            while filled < len(head) + n:
                got = self._stream.readinto(view[filled : len(head) + n])  # type: ignore[union-attr]
                if not got:
                    break
                filled += got
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
            raise CaptureError(
                self.name, self.position, f"compressed data is corrupt or truncated ({exc})"
            ) from exc
        finally:
            view.release()
        self.position += filled - len(head)
        return buf, filled

    def read_exact(self, n: int) -> bytes:
        """Up to ``n`` bytes, fewer only at end of file."""
        parts = []
        left = n
        while left:
            part = self.read(left)
            if not part:
                break
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def peek(self, n: int) -> bytes:
        """The first ``n`` bytes of the (decompressed) stream, without consuming them."""
        if self.position:
            raise ValueError("peek is only possible before the first read")
        data = self.read_exact(n)
        self._raw.seek(0)
        if self.compressed:
            self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb")
        self.position = 0
        return data

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
