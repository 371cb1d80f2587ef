"""Upload safety: limits, content sniffing, bombs, the temporary area, and the job."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from medsentry.api.auth.roles import Role
from medsentry.api.uploads import UploadKind, UploadLimits, UploadRejected, inspect, new_folder
from tests.api.conftest import DEMO, Api, Template, make_api

LIMITS = UploadLimits(max_bytes=8 << 20, max_expanded_bytes=32 << 20, max_ratio=100)
PCAP = DEMO.read_bytes()


def _inspect(tmp_path: Path, data: bytes, kind: UploadKind = UploadKind.CAPTURE):  # type: ignore[no-untyped-def]
    folder = new_folder(tmp_path / "work")
    (folder / "upload.bin").write_bytes(data)
    return folder, inspect(folder, folder / "upload.bin", len(data), kind, LIMITS, "f")


@pytest.mark.parametrize(
    ("pack", "fmt"),
    [
        (lambda b: b, "pcap"),
        (gzip.compress, "pcap+gzip"),
        (bz2.compress, "pcap+bzip2"),
        (lzma.compress, "pcap+xz"),
        (lambda b: gzip.compress(b[:5000]) + gzip.compress(b[5000:]), "pcap+gzip"),
    ],
)
def test_captures_are_recognised_by_content(tmp_path: Path, pack, fmt: str) -> None:  # type: ignore[no-untyped-def]
    _, upload = _inspect(tmp_path, pack(PCAP))
    assert upload.format == fmt
    assert upload.path.read_bytes() == PCAP
    upload.discard()
    assert not upload.folder.exists()


def _rejected(tmp_path: Path, data: bytes, kind: UploadKind = UploadKind.CAPTURE) -> UploadRejected:
    with pytest.raises(UploadRejected) as info:
        _inspect(tmp_path, data, kind)
    leftovers = list((tmp_path / "work").iterdir())
    assert leftovers == [], "a rejected upload must leave nothing behind"
    return info.value


def test_a_compression_bomb_is_refused_early(tmp_path: Path) -> None:
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MiB of zeros in about 64 KB
    error = _rejected(tmp_path, bomb)
    assert error.status == 413 and "compression bomb" in str(error)


def test_expansion_beyond_the_absolute_limit_is_refused(tmp_path: Path) -> None:
    data = PCAP * 200  # about 48 MiB that compresses modestly
    error = _rejected(tmp_path, gzip.compress(data, compresslevel=1))
    assert error.status == 413


def test_wrong_types_are_named_in_the_message(tmp_path: Path) -> None:
    error = _rejected(tmp_path, b"%PDF-1.7 not a capture")
    assert error.status == 415 and "not a pcap or pcapng" in str(error)
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.pcap", PCAP)
    error = _rejected(tmp_path, archive.getvalue())
    assert error.status == 415 and "zip archive" in str(error)
    error = _rejected(tmp_path, gzip.compress(PCAP)[:4000])
    assert error.status == 400 and "truncated" in str(error)
    # A pcap named .json is still a capture, and a JSON named .pcap still a document.
    assert _rejected(tmp_path, PCAP, UploadKind.DOCUMENT).status == 415


def test_documents_are_sniffed_too(tmp_path: Path) -> None:
    for data, fmt in (
        (b'\xef\xbb\xbf  {"bomFormat": "CycloneDX"}', "json"),
        (b'<?xml version="1.0"?><bom/>', "xml"),
        (b"SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n", "spdx-tag-value"),
        (gzip.compress(b'{"document": {}}'), "json+gzip"),
    ):
        _, upload = _inspect(tmp_path, data, UploadKind.DOCUMENT)
        assert upload.format == fmt
        upload.discard()


def test_advisory_uploads_take_json_and_csv_text(tmp_path: Path) -> None:
    kev_csv = b"cveID,vendorProject,product\nCVE-2021-44228,Apache,Log4j2\n"
    for data, fmt in (
        (b'{"document": {"csaf_version": "2.0"}}', "json"),
        (b"# EPSS scores\ncve,epss,percentile\n", "csv"),
        (kev_csv, "csv"),
        (gzip.compress(kev_csv), "csv+gzip"),
    ):
        _, upload = _inspect(tmp_path, data, UploadKind.ADVISORY)
        assert upload.format == fmt
        upload.discard()
    assert _rejected(tmp_path, kev_csv, UploadKind.DOCUMENT).status == 415  # not an SBOM
    for binary in (PCAP, b"\x00\x01,\x02", b"words without a table"):
        error = _rejected(tmp_path, binary, UploadKind.ADVISORY)
        assert error.status == 415 and "not a JSON or CSV document" in str(error), binary


def test_the_api_enforces_the_size_limit_while_streaming(
    demo_template: Template, tmp_path: Path
) -> None:
    for api in make_api(demo_template, tmp_path, max_capture_bytes=100_000):
        response = api.client.post("/api/v1/captures", content=PCAP, headers=api.auth(Role.ANALYST))
        assert response.status_code == 413
        assert "upload limit" in response.json()["detail"]
        # Without a Content-Length (chunked), the limit stops the stream part-way.
        chunks = (PCAP[i : i + 8192] for i in range(0, len(PCAP), 8192))
        response = api.client.post(
            "/api/v1/captures", content=chunks, headers=api.auth(Role.ANALYST)
        )
        assert response.status_code == 413
        assert _empty(api.work_dir)


def _empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_an_empty_upload_is_refused(api: Api) -> None:
    response = api.client.post("/api/v1/captures", content=b"", headers=api.auth(Role.ANALYST))
    assert response.status_code == 400 and "empty" in response.json()["detail"]


def test_an_uploaded_capture_is_analysed_by_a_job(api: Api) -> None:
    from medsentry.store.models.core import DeviceRow

    with api.store.session() as session:  # start from an empty inventory
        session.query(DeviceRow).delete()
    response = api.client.post(
        "/api/v1/captures?filename=../../ward%203.pcap.gz",
        content=gzip.compress(PCAP),
        headers=api.auth(Role.ANALYST),
    )
    assert response.status_code == 202
    job = response.json()
    assert job["filename"] == "ward 3.pcap.gz" and job["owner"] == "analyst"
    assert api.client.app.state.ctx.jobs.wait_idle(60)  # type: ignore[attr-defined]
    done = api.get(f"/api/v1/jobs/{job['id']}").json()
    assert done["state"] == "done", done
    assert done["progress"] == 1.0 and done["result"]["packets"] > 1000
    devices = api.get("/api/v1/devices?limit=100").json()
    assert devices["total"] == done["result"]["devices"] > 5
    assert {d["key"] for d in devices["items"]} == set(done["result"]["device_keys"])
    assert _empty(api.work_dir), "the temporary area is cleaned after the job"
    captures = api.get("/api/v1/captures").json()["items"]
    assert any(c["path"] == "upload:ward 3.pcap.gz" for c in captures)


def test_a_damaged_capture_fails_its_job_with_a_reason(api: Api) -> None:
    broken = PCAP[:24] + b"\xff" * 64  # a valid header, then a record header that lies
    response = api.client.post("/api/v1/captures", content=broken, headers=api.auth(Role.ANALYST))
    assert response.status_code == 202
    assert api.client.app.state.ctx.jobs.wait_idle(60)  # type: ignore[attr-defined]
    job = api.get(f"/api/v1/jobs/{response.json()['id']}").json()
    assert job["state"] in ("done", "failed")
    if job["state"] == "done":
        assert job["result"]["warnings"], "a damaged capture is reported"
    else:
        assert job["error"]
