"""Unpacking: formats, recursion, limits, traversal and bomb refusal (archives built here)."""

from __future__ import annotations

import gzip
import io
import lzma
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from medsentry.protect.errors import DecompressionBombError, UnsafePathError
from medsentry.protect.unpack import Unpacked, Unpacker, UnpackLimits
from tests.protect.conftest import run_cli


def _unpack(tmp_path: Path, source: Path, limits: UnpackLimits | None = None) -> Unpacked:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return Unpacker(work, limits).unpack(source)


def _contents(result: Unpacked) -> dict[str, bytes]:
    return {f.location: f.path.read_bytes() for f in result.files}


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    archive.addfile(info, io.BytesIO(data))


def test_nested_formats_are_unpacked_recursively(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "config").write_bytes(b"hello from cpio\n")
    cpio_path = tmp_path / "initrd.cpio"
    with open(cpio_path, "wb") as out:
        subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            input=b"etc\netc/config\n",
            cwd=tree,
            stdout=out,
            check=True,
        )
    member = tmp_path / "inner.txt"
    member.write_bytes(b"inside ar\n")
    ar_path = tmp_path / "lib.a"
    subprocess.run(["ar", "rc", str(ar_path), str(member)], check=True)

    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docs/readme.txt", "zip member\n")
        zf.writestr("bin.xz", lzma.compress(b"xz payload\n"))

    outer = tmp_path / "image.tar.gz"
    with tarfile.open(outer, "w:gz") as archive:
        _add_bytes(archive, "bin/app", b"\x7fELF fake", mode=0o4755)
        archive.add(cpio_path, arcname="boot/initrd.cpio")
        archive.add(ar_path, arcname="lib/lib.a")
        _add_bytes(archive, "update.zip", zbuf.getvalue())
        link = tarfile.TarInfo("bin/sh")
        link.type = tarfile.SYMTYPE
        link.linkname = "/bin/app"
        archive.addfile(link)

    result = _unpack(tmp_path, outer)
    found = _contents(result)
    assert found["image.tar.gz!/bin/app"] == b"\x7fELF fake"
    assert found["image.tar.gz!/boot/initrd.cpio!/etc/config"] == b"hello from cpio\n"
    assert found["image.tar.gz!/lib/lib.a!/inner.txt"] == b"inside ar\n"
    assert found["image.tar.gz!/update.zip!/docs/readme.txt"] == b"zip member\n"
    assert found["image.tar.gz!/update.zip!/bin.xz"] == b"xz payload\n"
    modes = {f.location: f.mode for f in result.files}
    assert modes["image.tar.gz!/bin/app"] == 0o4755  # setuid kept from the archive
    assert [(link.location, link.target) for link in result.links] == [
        ("image.tar.gz!/bin/sh", "/bin/app")
    ]
    formats = {fmt for _, fmt in result.containers}
    assert {"gzip", "tar", "cpio", "ar", "zip", "xz"} <= formats
    assert result.not_opened == []


def _traversal_tar(path: Path) -> None:
    with tarfile.open(path, "w") as archive:
        _add_bytes(archive, "ok.txt", b"fine")
        _add_bytes(archive, "../../escaped.txt", b"evil")


def test_path_traversal_tar_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    _traversal_tar(bad)
    with pytest.raises(UnsafePathError) as info:
        _unpack(tmp_path, bad)
    message = str(info.value)
    assert "bad.tar" in message
    assert "outside the extraction folder" in message
    assert "../../escaped.txt" in message
    assert list(tmp_path.parent.rglob("escaped.txt")) == []


def test_path_traversal_zip_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("good.txt", "ok")
        zf.writestr("../evil.sh", "#!/bin/sh\n")
    with pytest.raises(UnsafePathError, match="path traversal"):
        _unpack(tmp_path, bad)
    assert not (tmp_path / "evil.sh").exists()


def test_nested_traversal_is_reported_and_the_rest_is_scanned(tmp_path: Path) -> None:
    inner = tmp_path / "inner.tar"
    _traversal_tar(inner)
    outer = tmp_path / "outer.tar"
    with tarfile.open(outer, "w") as archive:
        archive.add(inner, arcname="inner.tar")
        _add_bytes(archive, "etc/hosts", b"127.0.0.1 localhost\n")
    result = _unpack(tmp_path, outer)
    assert "outer.tar!/etc/hosts" in _contents(result)
    refused = [n for n in result.not_opened if n.refused]
    assert [n.location for n in refused] == ["outer.tar!/inner.tar"]
    assert "path traversal" in refused[0].reason


def test_links_are_recorded_never_followed(tmp_path: Path) -> None:
    bad = tmp_path / "links.tar"
    with tarfile.open(bad, "w") as archive:
        link = tarfile.TarInfo("etc")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc"
        archive.addfile(link)
        # Written through the link this would land in the real /etc.
        _add_bytes(archive, "etc/medsentry-link-test", b"must stay inside")
        _add_bytes(archive, "/abs/name.txt", b"absolute name")
    result = _unpack(tmp_path, bad)
    assert not Path("/etc/medsentry-link-test").exists()
    found = _contents(result)
    assert found["links.tar!/etc/medsentry-link-test"] == b"must stay inside"
    assert found["links.tar!/abs/name.txt"] == b"absolute name"
    for item in result.files:
        assert str(item.path.resolve()).startswith(str((tmp_path / "work").resolve()))


def test_squashfs_links_out_of_the_image_are_not_followed(tmp_path: Path) -> None:
    tree = tmp_path / "rootfs"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool").write_bytes(b"tool")
    os.symlink("/etc/shadow", tree / "shadow")
    os.symlink("../../../../etc", tree / "bin" / "up")
    image = tmp_path / "rootfs.sqfs"
    subprocess.run(
        ["mksquashfs", str(tree), str(image), "-noappend", "-quiet", "-no-progress"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result = _unpack(tmp_path, image)
    assert _contents(result) == {"rootfs.sqfs!/bin/tool": b"tool"}
    assert {(link.location, link.target) for link in result.links} == {
        ("rootfs.sqfs!/shadow", "/etc/shadow"),
        ("rootfs.sqfs!/bin/up", "../../../../etc"),
    }


def test_zip_bomb_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    zeros = b"\x00" * (1 << 20)
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.bin", "w") as out:
        for _ in range(64):
            out.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(DecompressionBombError) as info:
        _unpack(tmp_path, bomb)
    message = str(info.value)
    assert "bomb.zip" in message and "decompression bomb" in message
    assert not list((tmp_path / "work").rglob("zeros.bin"))


def test_gzip_bomb_stops_early_without_filling_the_disk(tmp_path: Path) -> None:
    bomb = tmp_path / "disk.img.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        for _ in range(64):
            out.write(b"\x00" * (1 << 20))
    with pytest.raises(DecompressionBombError, match="ratio above"):
        _unpack(tmp_path, bomb)


def test_total_size_and_file_count_limits(tmp_path: Path) -> None:
    archive_path = tmp_path / "many.tar"
    with tarfile.open(archive_path, "w") as archive:
        for index in range(20):
            _add_bytes(archive, f"f{index}", os.urandom(1000))
    with pytest.raises(DecompressionBombError, match="more than 10 files"):
        _unpack(tmp_path, archive_path, UnpackLimits(max_files=10))
    with pytest.raises(DecompressionBombError, match="size limit"):
        _unpack(tmp_path, archive_path, UnpackLimits(max_total_bytes=5000))


def test_depth_limit_reports_what_was_not_opened(tmp_path: Path) -> None:
    data = b"deep payload"
    for _ in range(4):
        data = gzip.compress(data)
    nested = tmp_path / "nested.gz"
    nested.write_bytes(data)
    result = _unpack(tmp_path, nested, UnpackLimits(max_depth=2))
    assert [n.reason for n in result.not_opened] == ["nested deeper than 2 levels"]
    assert len(result.files) == 1  # the innermost reachable layer, analysed as raw bytes


def test_unreadable_and_unsupported_containers_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "build"
    folder.mkdir()
    (folder / "broken.tar.gz").write_bytes(gzip.compress(os.urandom(5000))[:2000])
    (folder / "archive.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + os.urandom(100))
    (folder / "plain.txt").write_text("hello")
    result = _unpack(tmp_path, folder)
    reasons = {n.location: (n.format, n.reason, n.refused) for n in result.not_opened}
    assert reasons["broken.tar.gz"][0] == "gzip" and "truncated" in reasons["broken.tar.gz"][1]
    assert reasons["archive.7z"] == ("7z", "recognised but no extractor is available", False)
    # Both are still analysed as raw files, and the input folder is left untouched.
    assert {"broken.tar.gz", "archive.7z", "plain.txt"} <= {f.location for f in result.files}
    assert sorted(p.name for p in folder.iterdir()) == ["archive.7z", "broken.tar.gz", "plain.txt"]


def test_cli_refuses_bombs_and_traversal_with_a_clear_message(tmp_path: Path) -> None:
    bomb = tmp_path / "update.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.img", b"\x00" * (40 << 20))
    result = run_cli("firmware", "scan", str(bomb))
    assert result.exit_code != 0
    assert isinstance(result.exception, DecompressionBombError)
    assert str(result.exception).startswith("update.zip: refused: ")
    traversal = tmp_path / "evil.tar"
    _traversal_tar(traversal)
    result = run_cli("firmware", "scan", str(traversal))
    assert isinstance(result.exception, UnsafePathError)
    assert "path traversal" in str(result.exception)
