"""Small vectorised helpers the detectors share: grouping rows by key columns, text addresses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsentry.decode.addresses import ip_text, mac_text

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class Groups:
    """Rows grouped by equal key columns: ``inverse[i]`` is row ``i``'s group, ``first[g]``
    the first row of group ``g`` (in row order), ``size[g]`` its row count."""

    inverse: I64
    first: I64
    size: I64

    def __len__(self) -> int:
        return int(self.first.shape[0])

    def min(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.full(len(self), np.inf)
        np.minimum.at(out, self.inverse, values)
        return out

    def max(self, values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = np.full(len(self), -np.inf)
        np.maximum.at(out, self.inverse, values)
        return out

    def rows_of(self, g: int) -> I64:
        return np.flatnonzero(self.inverse == g)

    def distinct(self, *cols: npt.ArrayLike) -> I64:
        """How many distinct values of ``cols`` each group holds."""
        if len(self) == 0:
            return np.zeros(0, np.int64)
        sub = group_by(self.inverse, *cols)
        return np.bincount(self.inverse[sub.first], minlength=len(self)).astype(np.int64)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A 64-bit finaliser (splitmix64): spreads every input bit over the whole word."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def group_by(*cols: npt.ArrayLike) -> Groups:
    """Group rows by the values of one or more integer columns of equal length.

    Several columns are folded into one 64-bit hash first (sorting one word is much
    faster than sorting records); two different keys meeting on one hash is a one in
    2**64 event per pair, far below anything a detector would notice."""
    arrays = [np.asarray(c).astype(np.uint64, copy=False) for c in cols]
    n = arrays[0].shape[0] if arrays else 0
    if n == 0:
        empty = np.zeros(0, np.int64)
        return Groups(empty, empty, empty)
    with np.errstate(over="ignore"):
        key = arrays[0] if len(arrays) == 1 else _mix(arrays[0] + np.uint64(0x9E3779B97F4A7C15))
        for extra in arrays[1:]:
            key = _mix(key ^ _mix(extra + np.uint64(0x632BE59BD9B4E019)))
    _, first, inverse, size = np.unique(
        key, return_index=True, return_inverse=True, return_counts=True
    )
    return Groups(
        inverse.reshape(-1).astype(np.int64), first.astype(np.int64), size.astype(np.int64)
    )


def ip_at(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64], row: int) -> str:
    return ip_text(int(hi[row]), int(lo[row]))


def mac(value: int) -> str:
    return mac_text(int(value))


def is_ipv4_mapped(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
    return (hi == 0) & ((lo >> np.uint64(32)) == np.uint64(0xFFFF))


class BucketCounts:
    """How many items each key had in the newest time bucket, carried across batches, so a
    rate measured on buckets comes out the same however the input was cut into batches."""

    def __init__(self) -> None:
        self.bucket: int | None = None
        self.keys = np.zeros(0, np.uint64)  # sorted
        self.counts = np.zeros(0, np.int64)

    def update(
        self, keys: npt.NDArray[np.uint64], buckets: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
        """Add items (one per row); returns each distinct key of this batch and its largest
        count in any one bucket, the part carried from earlier batches included."""
        if len(keys) == 0:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        per = group_by(keys, buckets)
        k, b, n = keys[per.first], buckets[per.first], per.size.copy()
        if self.bucket is not None and len(self.keys):
            same = b == self.bucket
            pos = np.clip(np.searchsorted(self.keys, k[same]), 0, len(self.keys) - 1)
            hit = self.keys[pos] == k[same]
            add = np.zeros(int(same.sum()), np.int64)
            add[hit] = self.counts[pos[hit]]
            n[same] += add
        newest = int(b.max())
        if self.bucket is None or newest > self.bucket:
            sel = b == newest
            order = np.argsort(k[sel])
            self.bucket, self.keys, self.counts = newest, k[sel][order], n[sel][order]
        elif newest == self.bucket:
            sel = b == newest
            merged = np.concatenate([self.keys, k[sel]])
            totals = np.concatenate([self.counts, n[sel]])
            uniq, inverse = np.unique(merged, return_inverse=True)
            # Keys present in both carry their updated total (n already includes the carry).
            best = np.zeros(len(uniq), np.int64)
            np.maximum.at(best, inverse.reshape(-1), totals)
            self.keys, self.counts = uniq, best
        uniq_keys, inverse = np.unique(k, return_inverse=True)
        peak = np.zeros(len(uniq_keys), np.int64)
        np.maximum.at(peak, inverse.reshape(-1), n)
        return uniq_keys, peak
