"""Benchmark: scan a ~100 MB firmware image (squashfs behind a U-Boot header) on one core.

Builds the image (seeded) from real ELF binaries — the Debian packages of the reference
corpus when present, else this machine's /usr/bin and /usr/lib — plus configuration files
with a few planted secrets and incompressible filler, then times ``scan_path`` on it: unpack,
ELF hardening, component signatures, secrets.

    .venv/bin/python bench/bench_firmware_scan.py [--size-mb 100] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

from medsentry.config import corpus_dir
from medsentry.protect.scan import scan_path
from medsentry.protect.unpack import Unpacker


def _real_binaries(work: Path) -> list[Path]:
    """ELF files from the corpus .deb packages (unpacked with our own unpacker), or the host's."""
    debs = corpus_dir() / "protect" / "debs"
    found: list[Path] = []
    if debs.is_dir():
        for number, deb in enumerate(sorted(debs.glob("*/*.deb"))):
            folder = work / "debs" / str(number)
            folder.mkdir(parents=True)
            unpacked = Unpacker(folder).unpack(deb)
            found += [f.path for f in unpacked.files if f.path.read_bytes()[:4] == b"\x7fELF"]
    if not found:
        for folder in (Path("/usr/bin"), Path("/usr/lib/x86_64-linux-gnu")):
            for path in sorted(folder.iterdir())[:400]:
                if path.is_file() and not path.is_symlink():
                    with open(path, "rb") as fh:
                        if fh.read(4) == b"\x7fELF":
                            found.append(path)
    return found


def _configs(rng: random.Random, root: Path, count: int) -> None:
    etc = root / "etc" / "app"
    etc.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        lines = [f"option_{i} = value{rng.randrange(10**6)}" for i in range(rng.randrange(20, 200))]
        if index % 50 == 0:
            lines.append(f"mqtt_password = S3cr3t-{rng.randrange(10**8)}")
            lines.append(f"server = http://10.{rng.randrange(256)}.{rng.randrange(256)}.7:8080/api")
        (etc / f"service{index}.conf").write_text("\n".join(lines) + "\n")
    (root / "etc" / "shadow").write_text(
        "root:$1$abcdefgh$Zq1LmN0pQ2rS3tU4vW5xY.:19000:0:99999:7:::\n"
    )


def build_image(target: Path, size_mb: int, seed: int, work: Path) -> Path:
    rng = random.Random(seed)
    rootfs = work / "rootfs"
    binaries = _real_binaries(work)
    budget = size_mb * 1024 * 1024
    used = 0
    # Real binaries (they compress to about 40 %), copied under varied names...
    index = 0
    while binaries and used < budget // 2:
        source = binaries[index % len(binaries)]
        dest = rootfs / "usr" / "lib" / f"set{index // len(binaries)}" / f"{index}-{source.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        used += dest.stat().st_size
        index += 1
    _configs(rng, rootfs, 400)
    # ...then incompressible blobs (images, databases, calibration tables) up to the size.
    blob_dir = rootfs / "usr" / "share" / "data"
    blob_dir.mkdir(parents=True, exist_ok=True)
    number = 0
    used = used * 2 // 5
    while used < budget:
        size = min(rng.randrange(256 << 10, 4 << 20), budget - used)
        (blob_dir / f"blob{number}.bin").write_bytes(rng.randbytes(size))
        used += size
        number += 1
    squashfs = work / "rootfs.squashfs"
    subprocess.run(
        ["mksquashfs", str(rootfs), str(squashfs), "-comp", "gzip", "-noappend", "-quiet",
         "-no-progress", "-all-root", "-processors", "2"],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    kernel = zlib.compress(b"placeholder kernel " * 1000)
    header = _uimage_header(kernel, "bench kernel")
    with open(target, "wb") as out:
        out.write(header + kernel)
        out.write(b"\xff" * (0x10000 - len(header) - len(kernel)))
        with open(squashfs, "rb") as fh:
            shutil.copyfileobj(fh, out)
    return target


def _uimage_header(payload: bytes, name: str) -> bytes:
    fields = struct.pack(
        ">IIIIIIIBBBB32s",
        0x27051956, 0, 1700000000, len(payload), 0x80008000, 0x80008000,
        zlib.crc32(payload), 5, 2, 2, 0, name.encode()[:32],
    )  # fmt: skip
    crc = zlib.crc32(fields)
    return fields[:4] + struct.pack(">I", crc) + fields[8:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="Keep the built image in this folder.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fw-") as tmp:
        work = Path(tmp)
        image = build_image(work / "firmware.bin", args.size_mb, args.seed, work)
        print(f"image: {image.stat().st_size / 1e6:.1f} MB")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(image, args.keep / image.name)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
        started = time.perf_counter()
        cpu_started = time.process_time()
        children_started = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = scan_path(image)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_children = (children.ru_utime + children.ru_stime) - (
            children_started.ru_utime + children_started.ru_stime
        )
    print(
        f"scanned {report.files} files ({report.bytes_unpacked / 1e6:.1f} MB unpacked), "
        f"{len(report.binaries)} ELF files, {len(report.components)} components, "
        f"{len(report.findings)} findings"
    )
    print("components: " + ", ".join(f"{c.name} {c.version}" for c in report.components[:12]))
    print(
        f"time: {wall:.1f} s wall on one core; CPU {cpu:.1f} s here + {cpu_children:.1f} s in "
        "unsquashfs (target: under 60 s)"
    )


if __name__ == "__main__":
    main()
