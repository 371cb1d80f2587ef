"""Running tshark as an independent oracle in tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def tshark_fields(
    path: Path, fields: list[str], display_filter: str | None = None
) -> list[list[str]]:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed (.ci/run installs it)")
    cmd = [exe, "-n", "-r", str(path), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for field in fields:
        cmd += ["-e", field]
    if display_filter:
        cmd += ["-Y", display_filter]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return [line.split("\t") for line in out.stdout.splitlines()]


def tshark_conv(path: Path, kinds: tuple[str, ...]) -> dict[str, dict[tuple[str, str], int]]:
    """``tshark -q -z conv,KIND`` for each kind: frames per endpoint pair (order-free)."""
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed (.ci/run installs it)")
    cmd = [exe, "-n", "-r", str(path), "-q"]
    for kind in kinds:
        cmd += ["-z", f"conv,{kind}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    tables: dict[str, dict[tuple[str, str], int]] = {}
    conv: dict[tuple[str, str], int] = {}
    for line in out.splitlines():
        upper = line.strip().upper()
        for kind in kinds:
            title = "IPV4" if kind == "ip" else kind.upper()
            if upper == f"{title} CONVERSATIONS":
                conv = tables.setdefault(kind, {})
        if "<->" not in line:
            continue
        left, right = line.split("<->")
        a = left.split()[0]
        tokens = right.split()
        b = tokens[0]
        # After B: frames, bytes, unit (<-), frames, bytes, unit (->), total frames ...
        total = int(tokens[7])
        key = (min(a, b), max(a, b))
        conv[key] = conv.get(key, 0) + total
    return {kind: tables.get(kind, {}) for kind in kinds}
