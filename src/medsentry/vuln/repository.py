"""Writing and reading the Know tables: advisories, enrichment (CVE records, KEV, EPSS), SBOMs.

Writes are set-based: one statement per table per batch, so importing a whole advisory feed
costs a handful of round trips, not one per product.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from medsentry.store.models.vuln import (
    AdvisoryRow,
    AffectedProductRow,
    ComponentRow,
    CveRow,
    EpssRow,
    KevRow,
    SbomRow,
)
from medsentry.vuln.advisories.csaf_validate import version_sort_key
from medsentry.vuln.model import (
    Advisory,
    AffectedProduct,
    Component,
    Hash,
    ProductStatus,
    Sbom,
)

# Many databases cap bound parameters per statement; keep IN lists well below that.
_CHUNK = 500


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 text that sorts chronologically on any database."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return iso(value)
    return value


# --------------------------------------------------------------------------- advisories


@dataclass
class StoredAdvisory:
    """An advisory ready to store: the record, its file's hash, its validation report."""

    advisory: Advisory
    sha256: str
    validation: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdvisoryWriteResult:
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    older: list[str] = field(default_factory=list)  # an older revision than the one stored
    products: int = 0


def _revision_key(modified: str | None, revision: str | None) -> tuple[str, tuple[Any, ...]]:
    return (modified or "", version_sort_key(revision or ""))


def save_advisories(session: Session, items: Sequence[StoredAdvisory]) -> AdvisoryWriteResult:
    """Insert new advisories, replace older revisions, leave identical or older ones alone."""
    result = AdvisoryWriteResult()
    # Within one batch, the newest revision of each advisory wins.
    newest: dict[tuple[str, str], StoredAdvisory] = {}
    for item in items:
        key = (item.advisory.source, item.advisory.id)
        held = newest.get(key)
        if held is None or _revision_key(iso(item.advisory.modified), item.advisory.revision) > (
            _revision_key(iso(held.advisory.modified), held.advisory.revision)
        ):
            newest[key] = item
    existing: dict[tuple[str, str], tuple[int, str, str | None, str | None]] = {}
    by_source: dict[str, list[str]] = {}
    for source, adv_id in newest:
        by_source.setdefault(source, []).append(adv_id)
    for source, ids in by_source.items():
        for chunk in _chunks(ids):
            rows = session.execute(
                select(
                    AdvisoryRow.id,
                    AdvisoryRow.advisory_id,
                    AdvisoryRow.sha256,
                    AdvisoryRow.modified,
                    AdvisoryRow.revision,
                ).where(AdvisoryRow.source == source, AdvisoryRow.advisory_id.in_(chunk))
            )
            for pk, adv_id, sha, modified, revision in rows:
                existing[(source, adv_id)] = (pk, sha, modified, revision)

    now = time.time()
    to_insert: list[StoredAdvisory] = []
    to_replace: list[tuple[int, StoredAdvisory]] = []
    for key, item in newest.items():
        label = f"{key[0]}:{key[1]}"
        held_row = existing.get(key)
        if held_row is None:
            to_insert.append(item)
            result.new.append(label)
            continue
        pk, sha, modified, revision = held_row
        if sha == item.sha256:
            result.unchanged.append(label)
        elif _revision_key(iso(item.advisory.modified), item.advisory.revision) < _revision_key(
            modified, revision
        ):
            result.older.append(label)
        else:
            to_replace.append((pk, item))
            result.updated.append(label)

    if to_replace:
        pks = [pk for pk, _ in to_replace]
        for chunk in _chunks(pks):
            session.execute(
                delete(AffectedProductRow).where(AffectedProductRow.advisory_pk.in_(chunk))
            )
        session.execute(
            update(AdvisoryRow),
            [{"id": pk, **_advisory_values(item, now)} for pk, item in to_replace],
        )
    product_rows: list[dict[str, Any]] = []
    if to_insert:
        pks_new = session.scalars(
            insert(AdvisoryRow).returning(AdvisoryRow.id, sort_by_parameter_order=True),
            [_advisory_values(item, now) for item in to_insert],
        ).all()
        for pk, item in zip(pks_new, to_insert, strict=True):
            product_rows.extend(_product_values(pk, p) for p in item.advisory.products)
    for pk, item in to_replace:
        product_rows.extend(_product_values(pk, p) for p in item.advisory.products)
    if product_rows:
        session.execute(insert(AffectedProductRow), product_rows)
    result.products = len(product_rows)
    return result


def _advisory_values(item: StoredAdvisory, now: float) -> dict[str, Any]:
    adv = item.advisory
    return {
        "source": adv.source,
        "advisory_id": adv.id,
        "title": (adv.title or "")[:1024] or None,
        "revision": adv.revision,
        "published": iso(adv.published),
        "modified": iso(adv.modified),
        "publisher": adv.publisher,
        "category": adv.category,
        "cves": list(adv.cves),
        "details": {
            "scores": _jsonable(adv.scores),
            "references": _jsonable(adv.references),
            "remediations": _jsonable(adv.remediations),
            "notes": _jsonable(adv.notes),
            "vulnerabilities": _jsonable(adv.vulnerabilities),
        },
        "sha256": item.sha256,
        "source_path": adv.source_path,
        "imported_at": now,
        "validation": item.validation,
    }


def _product_values(advisory_pk: int, p: AffectedProduct) -> dict[str, Any]:
    return {
        "advisory_pk": advisory_pk,
        "product_id": p.product_id,
        "vendor": p.vendor,
        "product": p.product,
        "version_text": p.version_text,
        "purl": p.purl,
        "cpe": p.cpe,
        "vers": p.vers,
        "status": p.status.value,
        "cves": list(p.cves),
        "full_name": p.full_name,
        "remediation": p.remediation,
    }


def affected_from_row(row: AffectedProductRow) -> AffectedProduct:
    return AffectedProduct(
        product_id=row.product_id,
        vendor=row.vendor,
        product=row.product,
        version_text=row.version_text,
        purl=row.purl,
        cpe=row.cpe,
        vers=row.vers,
        status=ProductStatus(row.status),
        cves=tuple(row.cves or ()),
        full_name=row.full_name,
        remediation=row.remediation,
    )


# --------------------------------------------------------------------------- enrichment


def upsert_by_key(session: Session, model: Any, key: str, rows: Sequence[dict[str, Any]]) -> int:
    """Replace rows of a table keyed by one primary-key column (KEV, EPSS, CVE records)."""
    if not rows:
        return 0
    keys = [r[key] for r in rows]
    column = getattr(model, key)
    for chunk in _chunks(keys):
        session.execute(delete(model).where(column.in_(chunk)))
    session.execute(insert(model), list(rows))
    return len(rows)


def save_kev(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    return upsert_by_key(session, KevRow, "cve_id", rows)


def save_epss(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    return upsert_by_key(session, EpssRow, "cve_id", rows)


def save_cves(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    now = time.time()
    return upsert_by_key(session, CveRow, "cve_id", [{**r, "imported_at": now} for r in rows])


# --------------------------------------------------------------------------- SBOMs


def save_sbom(
    session: Session,
    sbom: Sbom,
    sha256: str,
    *,
    quality: dict[str, Any] | None = None,
    manufacturer: str | None = None,
    model: str | None = None,
) -> tuple[SbomRow, bool]:
    """Store an SBOM and its components; an identical file already stored is returned as is."""
    held = session.scalar(select(SbomRow).where(SbomRow.sha256 == sha256))
    if held is not None:
        return held, False
    primary = sbom.primary
    row = SbomRow(
        sha256=sha256,
        format=sbom.format,
        spec_version=sbom.spec_version,
        serial=sbom.serial,
        version=sbom.version,
        name=sbom.name or (primary.name if primary else None),
        product_version=primary.version if primary else None,
        manufacturer=manufacturer or (primary.supplier if primary else None),
        model=model or (primary.name if primary else None),
        timestamp=iso(sbom.timestamp),
        source_path=sbom.source_path,
        imported_at=time.time(),
        component_count=len(sbom.components),
        quality=quality or {},
    )
    session.add(row)
    session.flush()
    deps = {d.ref: list(d.depends_on) for d in sbom.dependencies}
    values = [_component_values(row.id, c, deps.get(c.ref, []), False) for c in sbom.components]
    refs = {c.ref for c in sbom.components}
    if primary is not None and primary.ref not in refs:
        values.append(_component_values(row.id, primary, deps.get(primary.ref, []), True))
    # Duplicate refs (seen in the wild) would break the unique key: keep the first.
    seen: set[str] = set()
    unique = [v for v in values if not (v["ref"] in seen or seen.add(v["ref"]))]  # type: ignore[func-returns-value]
    if unique:
        session.execute(insert(ComponentRow), unique)
    return row, True


def _component_values(
    sbom_id: int, c: Component, depends_on: list[str], primary: bool
) -> dict[str, Any]:
    return {
        "sbom_id": sbom_id,
        "ref": c.ref[:512],
        "name": c.name[:512],
        "version": c.version,
        "purl": c.purl,
        "cpes": list(c.cpes),
        "supplier": c.supplier,
        "author": c.author,
        "group": c.group,
        "type": c.type,
        "hashes": [{"alg": h.alg, "value": h.value} for h in c.hashes],
        "licenses": list(c.licenses),
        "support_level": c.support_level,
        "end_of_support": c.end_of_support,
        "depends_on": depends_on,
        "is_primary": primary,
    }


def component_from_row(row: ComponentRow) -> Component:
    return Component(
        ref=row.ref,
        name=row.name,
        version=row.version,
        purl=row.purl,
        cpes=tuple(row.cpes or ()),
        supplier=row.supplier,
        author=row.author,
        group=row.group,
        type=row.type,
        hashes=tuple(Hash(h["alg"], h["value"]) for h in row.hashes or ()),
        licenses=tuple(row.licenses or ()),
        support_level=row.support_level,
        end_of_support=row.end_of_support,
    )
