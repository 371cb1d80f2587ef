"""CSAF 2.0 validation: the JSON schema (when available) and the mandatory tests of §6.1.

The mandatory tests implemented here are the ones that protect matching and triage: product
ids that resolve, statuses that do not contradict each other, CVSS data that agrees with its
vector, version ranges kept out of ``product_version``, a consistent revision history and the
profile rules of security advisories and VEX documents.

Not implemented (listed in every report's ``tests_skipped``):
* 6.1.11 CWE — needs the MITRE CWE catalogue to check that id and name belong together.
* 6.1.12 Language — only the BCP 47 *syntax* is checked; whether a subtag is registered
  needs the IANA language subtag registry, which is not shipped.
* 6.1.8 Invalid CVSS runs only when the FIRST CVSS JSON schemas are found next to the CSAF
  schema (see ``schema_dir``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from medsentry.config import corpus_dir
from medsentry.vuln.advisories.report import ValidationReport
from medsentry.vuln.io import as_list, parse_datetime

SCHEMA_ENV = "MEDSENTRY_CSAF_SCHEMA_DIR"

UNSUPPORTED: dict[str, str] = {
    "6.1.11": "needs the MITRE CWE catalogue to check CWE id/name pairs",
    "6.1.12": "checks BCP 47 syntax only; existence needs the IANA subtag registry",
}

_AFFECTED = ("first_affected", "known_affected", "last_affected")
_FIXED = ("first_fixed", "fixed")
_STATUS_CLASSES = {
    "affected": _AFFECTED,
    "not affected": ("known_not_affected",),
    "fixed": _FIXED,
    "under investigation": ("under_investigation",),
}
_ALL_STATUS = (*_AFFECTED, *_FIXED, "known_not_affected", "under_investigation", "recommended")

_INT_VERSION = re.compile(r"^(0|[1-9][0-9]*)$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
# BCP 47 (RFC 5646) well-formedness, plus the grandfathered tags it still allows.
_BCP47 = re.compile(
    r"^(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})"
    r"(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?"
    r"(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*"
    r"(?:-[\da-wy-z](?:-[a-z\d]{2,8})+)*(?:-x(?:-[a-z\d]{1,8})+)?"
    r"|x(?:-[a-z\d]{1,8})+)$",
    re.IGNORECASE,
)
_GRANDFATHERED = {
    "en-gb-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-be-fr",
    "sgn-be-nl",
    "sgn-ch-de",
    "art-lojban",
    "cel-gaulish",
    "no-bok",
    "no-nyn",
    "zh-guoyu",
    "zh-hakka",
    "zh-min",
    "zh-min-nan",
    "zh-xiang",
}
# Whole words only: "after-eight" or "tallest" are product names, not ranges.
_RANGE_WORDS = re.compile(
    r"(?:^|\s)(after|all|before|earlier|later|prior|versions)(?:\s|$)", re.IGNORECASE
)
_RANGE_OPERATORS = ("<", ">")

_PROFILES = {
    "csaf_security_incident_response": "Security incident response",
    "csaf_informational_advisory": "Informational Advisory",
    "csaf_security_advisory": "Security Advisory",
    "csaf_vex": "VEX",
}

# --------------------------------------------------------------------------- schema


def schema_dir() -> Path | None:
    """Folder holding ``csaf_json_schema.json`` (and the FIRST CVSS schemas), if any.

    Taken from ``MEDSENTRY_CSAF_SCHEMA_DIR``, else the OASIS copy in the reference corpus.
    """
    candidates = []
    env = os.environ.get(SCHEMA_ENV)
    if env:
        candidates.append(Path(env))
    candidates.append(corpus_dir() / "vuln" / "csaf" / "oasis-csaf" / "csaf_2.0")
    for base in candidates:
        if (base / "csaf_json_schema.json").is_file():
            return base
        found = (
            next(iter(sorted(base.glob("**/csaf_json_schema.json"))), None)
            if base.is_dir()
            else None
        )
        if found is not None:
            return found.parent.parent if found.parent.name == "json_schema" else found.parent
    return None


def _find(base: Path, name: str) -> Path | None:
    return next(iter(sorted(base.glob(f"**/{name}"))), None)


@dataclass(frozen=True)
class SchemaError:
    message: str
    path: str


@lru_cache(maxsize=4)
def _validators(base: Path) -> tuple[Callable[[Any], list[SchemaError]], dict[str, Any]]:
    """A function listing CSAF schema errors, and strict CVSS validators, for one folder.

    jsonschema-rs validates a document in well under a millisecond (the pure-Python validator
    takes about 10 ms), which matters when a feed brings hundreds of advisories.
    """
    import jsonschema
    import jsonschema_rs

    csaf_path = _find(base, "csaf_json_schema.json")
    assert csaf_path is not None
    resources: list[tuple[str, Any]] = []
    strict: dict[str, Any] = {}
    for version in ("2.0", "3.0", "3.1"):
        lax = _find(base, f"cvss-v{version}.json")
        if lax is not None:
            contents = json.loads(lax.read_text(encoding="utf-8"))
            resources.append((f"https://www.first.org/cvss/cvss-v{version}.json", contents))
        strict_path = _find(base, f"cvss-v{version}_strict.json")
        if strict_path is not None:
            contents = json.loads(strict_path.read_text(encoding="utf-8"))
            cls = jsonschema.validators.validator_for(contents)
            strict[version] = cls(contents)
    schema = json.loads(csaf_path.read_text(encoding="utf-8"))
    validator = jsonschema_rs.validator_for(
        schema, registry=jsonschema_rs.Registry(resources), validate_formats=True
    )

    def errors(doc: Any) -> list[SchemaError]:
        found = [
            SchemaError(e.message, _pointer(e.instance_path)) for e in validator.iter_errors(doc)
        ]
        return sorted(found, key=lambda e: e.path)

    return errors, strict


# --------------------------------------------------------------------------- entry point


def validate_csaf(
    doc: dict[str, Any], source: str, *, schema: Path | bool | None = True
) -> ValidationReport:
    """Run the schema (``schema=True`` finds it; a path uses that; ``False`` skips it) and
    the mandatory tests; never raises on content problems."""
    report = ValidationReport(source=source, format="csaf")
    tracking = _obj(_obj(doc.get("document")).get("tracking"))
    report.document_id = tracking.get("id")

    base = schema_dir() if schema is True else (schema or None)
    strict: dict[str, Any] = {}
    if base is not None:
        validator, strict = _validators(Path(base))
        report.tests_run.append("schema")
        for err in validator(doc)[:50]:
            report.add("schema", err.message[:300], err.path)
    else:
        report.tests_skipped["schema"] = (
            f"CSAF JSON schema not found; set {SCHEMA_ENV} to the folder holding "
            "csaf_json_schema.json"
        )
    if strict:
        report.tests_run.append("6.1.8")
        _t_6_1_8(doc, report, strict)
    else:
        report.tests_skipped["6.1.8"] = "FIRST CVSS strict schemas not found"
    report.tests_skipped.update(UNSUPPORTED)

    ctx = _Context(doc)
    for test_id, test in _TESTS:
        report.tests_run.append(test_id)
        try:
            test(ctx, report)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # A malformed structure the schema already reports; keep going with other tests.
            report.add(
                test_id, f"could not run on this document ({type(exc).__name__})", "", "info"
            )
    return report


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(p) for p in path)


# --------------------------------------------------------------------------- shared context


class _Context:
    """Indexes of a document that many tests need."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.document: dict[str, Any] = _obj(doc.get("document"))
        self.tracking: dict[str, Any] = _obj(self.document.get("tracking"))
        self.tree: dict[str, Any] = _obj(doc.get("product_tree"))
        self.vulns: list[dict[str, Any]] = [
            v for v in as_list(doc.get("vulnerabilities")) if isinstance(v, dict)
        ]
        self.category = str(self.document.get("category", ""))
        self.definitions: list[tuple[str, str]] = list(self._product_definitions())
        self.groups: dict[str, list[str]] = {}
        self.group_definitions: list[tuple[str, str]] = []
        for i, g in enumerate(as_list(self.tree.get("product_groups"))):
            if isinstance(g, dict) and "group_id" in g:
                gid = str(g["group_id"])
                self.group_definitions.append((gid, f"/product_tree/product_groups/{i}/group_id"))
                self.groups.setdefault(gid, []).extend(
                    str(p) for p in as_list(g.get("product_ids"))
                )

    def _product_definitions(self) -> Iterator[tuple[str, str]]:
        for fpn, path in self.full_product_names():
            if "product_id" in fpn:
                yield str(fpn["product_id"]), path + "/product_id"

    def full_product_names(self) -> Iterator[tuple[dict[str, Any], str]]:
        def walk(branches: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
            for i, b in enumerate(as_list(branches)):
                if not isinstance(b, dict):
                    continue
                if isinstance(b.get("product"), dict):
                    yield b["product"], f"{path}/{i}/product"
                yield from walk(b.get("branches"), f"{path}/{i}/branches")

        yield from walk(self.tree.get("branches"), "/product_tree/branches")
        for i, fpn in enumerate(as_list(self.tree.get("full_product_names"))):
            if isinstance(fpn, dict):
                yield fpn, f"/product_tree/full_product_names/{i}"
        for i, rel in enumerate(as_list(self.tree.get("relationships"))):
            if isinstance(rel, dict) and isinstance(rel.get("full_product_name"), dict):
                yield rel["full_product_name"], f"/product_tree/relationships/{i}/full_product_name"

    def branches(self) -> Iterator[tuple[dict[str, Any], str]]:
        def walk(branches: Any, path: str) -> Iterator[tuple[dict[str, Any], str]]:
            for i, b in enumerate(as_list(branches)):
                if isinstance(b, dict):
                    yield b, f"{path}/{i}"
                    yield from walk(b.get("branches"), f"{path}/{i}/branches")

        yield from walk(self.tree.get("branches"), "/product_tree/branches")

    def expand(self, item: dict[str, Any], key: str = "product_ids") -> set[str]:
        """Product ids an element names directly or through its product groups."""
        ids = {str(p) for p in as_list(item.get(key))}
        for gid in as_list(item.get("group_ids")):
            ids.update(self.groups.get(str(gid), ()))
        return ids

    def revisions(self) -> list[dict[str, Any]]:
        return [r for r in as_list(self.tracking.get("revision_history")) if isinstance(r, dict)]

    def revisions_by_date(self) -> list[dict[str, Any]]:
        def key(r: dict[str, Any]) -> tuple[datetime | str, tuple[Any, ...]]:
            date = parse_datetime(r.get("date"))
            return (date.isoformat() if date else str(r.get("date", "")), _version_key(r))

        return sorted(self.revisions(), key=key)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --------------------------------------------------------------------------- version helpers


def _is_int(v: str) -> bool:
    return bool(_INT_VERSION.match(v))


def _semver(v: str) -> re.Match[str] | None:
    return _SEMVER.match(v)


def _version_key(rev: dict[str, Any]) -> tuple[Any, ...]:
    return version_sort_key(str(rev.get("number", "")))


def version_sort_key(v: str) -> tuple[Any, ...]:
    """Order CSAF version numbers (integer or semantic versioning; build metadata ignored)."""
    if _is_int(v):
        return (int(v), 0, 0, 1, ())
    m = _semver(v)
    if not m:
        return (-1, 0, 0, 0, (v,))
    pre = m.group(4)
    pre_key: tuple[Any, ...] = ()
    if pre:
        pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), 0 if pre else 1, pre_key)


def _major(v: str) -> int | None:
    if _is_int(v):
        return int(v)
    m = _semver(v)
    return int(m.group(1)) if m else None


def _strip(v: str, *, pre: bool) -> str:
    v = v.split("+", 1)[0]
    if pre and _semver(v):
        v = v.split("-", 1)[0]
    return v


def _has_pre(v: str) -> bool:
    m = _semver(v)
    return bool(m and m.group(4))


def _is_zero(v: str) -> bool:
    return v == "0" or (bool(_semver(v)) and v.startswith("0."))


# --------------------------------------------------------------------------- the tests


def _t_6_1_1(ctx: _Context, r: ValidationReport) -> None:
    defined = {pid for pid, _ in ctx.definitions}
    for pid, path in _product_references(ctx):
        if pid not in defined:
            r.add(
                "6.1.1", f"product id {pid!r} is used but never defined in the product tree", path
            )


def _product_references(ctx: _Context) -> Iterator[tuple[str, str]]:
    for i, g in enumerate(as_list(ctx.tree.get("product_groups"))):
        for j, pid in enumerate(as_list(_obj(g).get("product_ids"))):
            yield str(pid), f"/product_tree/product_groups/{i}/product_ids/{j}"
    for i, rel in enumerate(as_list(ctx.tree.get("relationships"))):
        for key in ("product_reference", "relates_to_product_reference"):
            if key in _obj(rel):
                yield str(rel[key]), f"/product_tree/relationships/{i}/{key}"
    for v_i, vuln in enumerate(ctx.vulns):
        base = f"/vulnerabilities/{v_i}"
        for group, ids in _obj(vuln.get("product_status")).items():
            for j, pid in enumerate(as_list(ids)):
                yield str(pid), f"{base}/product_status/{group}/{j}"
        for key, field in (
            ("remediations", "product_ids"),
            ("scores", "products"),
            ("threats", "product_ids"),
            ("flags", "product_ids"),
        ):
            for k, item in enumerate(as_list(vuln.get(key))):
                for j, pid in enumerate(as_list(_obj(item).get(field))):
                    yield str(pid), f"{base}/{key}/{k}/{field}/{j}"


def _t_6_1_2(ctx: _Context, r: ValidationReport) -> None:
    seen: dict[str, str] = {}
    for pid, path in ctx.definitions:
        if pid in seen:
            r.add(
                "6.1.2",
                f"product id {pid!r} is defined more than once (first at {seen[pid]})",
                path,
            )
        else:
            seen[pid] = path


def _t_6_1_3(ctx: _Context, r: ValidationReport) -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    paths: dict[str, str] = {}
    for i, rel in enumerate(as_list(ctx.tree.get("relationships"))):
        rel = _obj(rel)
        pid = _obj(rel.get("full_product_name")).get("product_id")
        if pid is None:
            continue
        paths[str(pid)] = f"/product_tree/relationships/{i}/full_product_name/product_id"
        for key in ("product_reference", "relates_to_product_reference"):
            if key in rel:
                edges[str(pid)].add(str(rel[key]))
    for start in edges:
        stack, seen = list(edges[start]), set()
        while stack:
            node = stack.pop()
            if node == start:
                r.add("6.1.3", f"product id {start!r} is defined in terms of itself", paths[start])
                break
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))


def _t_6_1_4(ctx: _Context, r: ValidationReport) -> None:
    for v_i, vuln in enumerate(ctx.vulns):
        for key in ("remediations", "threats", "flags"):
            for k, item in enumerate(as_list(vuln.get(key))):
                for j, gid in enumerate(as_list(_obj(item).get("group_ids"))):
                    if str(gid) not in ctx.groups:
                        r.add(
                            "6.1.4",
                            f"product group id {gid!r} is used but never defined",
                            f"/vulnerabilities/{v_i}/{key}/{k}/group_ids/{j}",
                        )


def _t_6_1_5(ctx: _Context, r: ValidationReport) -> None:
    seen: set[str] = set()
    for gid, path in ctx.group_definitions:
        if gid in seen:
            r.add("6.1.5", f"product group id {gid!r} is defined more than once", path)
        seen.add(gid)


def _t_6_1_6(ctx: _Context, r: ValidationReport) -> None:
    for v_i, vuln in enumerate(ctx.vulns):
        status = _obj(vuln.get("product_status"))
        classes: dict[str, set[str]] = defaultdict(set)
        for cls, groups in _STATUS_CLASSES.items():
            for group in groups:
                for pid in as_list(status.get(group)):
                    classes[str(pid)].add(cls)
        for pid, found in classes.items():
            if len(found) > 1:
                r.add(
                    "6.1.6",
                    f"product {pid!r} is at once {' and '.join(sorted(found))}",
                    f"/vulnerabilities/{v_i}/product_status",
                )


def _t_6_1_7(ctx: _Context, r: ValidationReport) -> None:
    for v_i, vuln in enumerate(ctx.vulns):
        seen: set[tuple[str, str]] = set()
        for s_i, score in enumerate(as_list(vuln.get("scores"))):
            score = _obj(score)
            for key in ("cvss_v2", "cvss_v3"):
                cvss = _obj(score.get(key))
                if not cvss:
                    continue
                version = str(cvss.get("version", key))
                for pid in as_list(score.get("products")):
                    if (str(pid), version) in seen:
                        r.add(
                            "6.1.7",
                            f"product {pid!r} has more than one CVSS {version} score",
                            f"/vulnerabilities/{v_i}/scores/{s_i}",
                        )
                    seen.add((str(pid), version))


def _cvss_objects(ctx: _Context) -> Iterator[tuple[str, dict[str, Any], str]]:
    for v_i, vuln in enumerate(ctx.vulns):
        for s_i, score in enumerate(as_list(vuln.get("scores"))):
            for key in ("cvss_v2", "cvss_v3"):
                cvss = _obj(_obj(score).get(key))
                if cvss:
                    yield key, cvss, f"/vulnerabilities/{v_i}/scores/{s_i}/{key}"


def _t_6_1_8(doc: dict[str, Any], r: ValidationReport, strict: dict[str, Any]) -> None:
    for key, cvss, path in _cvss_objects(_Context(doc)):
        version = "2.0" if key == "cvss_v2" else str(cvss.get("version"))
        validator = strict.get(version)
        if validator is None:
            r.add("6.1.8", f"unknown CVSS version {version!r}", path)
            continue
        for err in validator.iter_errors(cvss):
            r.add(
                "6.1.8",
                f"CVSS object invalid: {err.message[:200]}",
                path + _pointer(err.absolute_path),
            )


def _t_6_1_9(ctx: _Context, r: ValidationReport) -> None:
    from cvss import CVSS2, CVSS3
    from cvss.exceptions import CVSSError

    for key, cvss, path in _cvss_objects(ctx):
        vector = cvss.get("vectorString")
        if not isinstance(vector, str):
            continue
        try:
            calc: CVSS2 | CVSS3 = CVSS2(vector) if key == "cvss_v2" else CVSS3(vector)
        except CVSSError as exc:
            r.add("6.1.9", f"vector {vector!r} cannot be computed: {exc}", path)
            continue
        computed = dict(
            zip(("baseScore", "temporalScore", "environmentalScore"), calc.scores(), strict=False)
        )
        if key == "cvss_v3":
            computed.update(
                zip(
                    ("baseSeverity", "temporalSeverity", "environmentalSeverity"),
                    (s.upper() for s in calc.severities()),
                    strict=False,
                )
            )
        for field, expected in computed.items():
            if (
                field in cvss
                and cvss[field] != expected
                and not _same_number(cvss[field], expected)
            ):
                r.add(
                    "6.1.9",
                    f"{field} is {cvss[field]!r} but the vector gives {expected!r}",
                    f"{path}/{field}",
                )


def _same_number(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-9
    except (TypeError, ValueError):
        return False


_V3_METRICS = {
    "attackVector": "AV",
    "attackComplexity": "AC",
    "privilegesRequired": "PR",
    "userInteraction": "UI",
    "scope": "S",
    "confidentialityImpact": "C",
    "integrityImpact": "I",
    "availabilityImpact": "A",
    "exploitCodeMaturity": "E",
    "remediationLevel": "RL",
    "reportConfidence": "RC",
    "confidentialityRequirement": "CR",
    "integrityRequirement": "IR",
    "availabilityRequirement": "AR",
    "modifiedAttackVector": "MAV",
    "modifiedAttackComplexity": "MAC",
    "modifiedPrivilegesRequired": "MPR",
    "modifiedUserInteraction": "MUI",
    "modifiedScope": "MS",
    "modifiedConfidentialityImpact": "MC",
    "modifiedIntegrityImpact": "MI",
    "modifiedAvailabilityImpact": "MA",
}
_V2_METRICS = {
    "accessVector": "AV",
    "accessComplexity": "AC",
    "authentication": "Au",
    "confidentialityImpact": "C",
    "integrityImpact": "I",
    "availabilityImpact": "A",
    "exploitability": "E",
    "remediationLevel": "RL",
    "reportConfidence": "RC",
    "collateralDamagePotential": "CDP",
    "targetDistribution": "TD",
    "confidentialityRequirement": "CR",
    "integrityRequirement": "IR",
    "availabilityRequirement": "AR",
}
_V2_ABBREV = {
    "NOT_DEFINED": "ND",
    "PROOF_OF_CONCEPT": "POC",
    "OFFICIAL_FIX": "OF",
    "TEMPORARY_FIX": "TF",
    "UNCONFIRMED": "UC",
    "UNCORROBORATED": "UR",
    "LOW_MEDIUM": "LM",
    "MEDIUM_HIGH": "MH",
}


def _t_6_1_10(ctx: _Context, r: ValidationReport) -> None:
    for key, cvss, path in _cvss_objects(ctx):
        vector = cvss.get("vectorString")
        if not isinstance(vector, str):
            continue
        parts = vector.split("/")
        if key == "cvss_v3":
            prefix = parts[0]
            if prefix.startswith("CVSS:") and prefix[5:] != str(cvss.get("version")):
                r.add(
                    "6.1.10",
                    f"version {cvss.get('version')!r} disagrees with vector {prefix}",
                    path,
                )
            parts = parts[1:]
        metrics = dict(p.split(":", 1) for p in parts if ":" in p)
        names = _V3_METRICS if key == "cvss_v3" else _V2_METRICS
        for prop, abbrev in names.items():
            if prop not in cvss:
                continue
            value = str(cvss[prop])
            if key == "cvss_v3":
                expected = "X" if value == "NOT_DEFINED" else value[:1]
            else:
                expected = _V2_ABBREV.get(value, value[:1])
            given = metrics.get(abbrev)
            # A metric the vector leaves out cannot be contradicted by the property.
            if given is not None and given != expected:
                r.add(
                    "6.1.10",
                    f"{prop} is {value} but the vector says {abbrev}:{given}",
                    f"{path}/{prop}",
                )


def _t_6_1_12(ctx: _Context, r: ValidationReport) -> None:
    for key in ("lang", "source_lang"):
        value = ctx.document.get(key)
        if isinstance(value, str) and not (_BCP47.match(value) or value.lower() in _GRANDFATHERED):
            r.add("6.1.12", f"{key} {value!r} is not a valid language tag", f"/document/{key}")


def _t_6_1_13(ctx: _Context, r: ValidationReport) -> None:
    from packageurl import PackageURL

    for fpn, path in ctx.full_product_names():
        purl = _obj(fpn.get("product_identification_helper")).get("purl")
        if purl is None:
            continue
        try:
            PackageURL.from_string(str(purl))
        except ValueError as exc:
            r.add(
                "6.1.13",
                f"invalid purl {purl!r}: {exc}",
                f"{path}/product_identification_helper/purl",
            )


def _t_6_1_14(ctx: _Context, r: ValidationReport) -> None:
    keys = [_version_key(rev) for rev in ctx.revisions_by_date()]
    if keys != sorted(keys):
        r.add(
            "6.1.14",
            "revision history numbers do not ascend with their dates",
            "/document/tracking/revision_history",
        )


def _t_6_1_15(ctx: _Context, r: ValidationReport) -> None:
    publisher = _obj(ctx.document.get("publisher"))
    if publisher.get("category") == "translator" and "source_lang" not in ctx.document:
        r.add("6.1.15", "a translator's document must give source_lang", "/document/source_lang")


def _t_6_1_16(ctx: _Context, r: ValidationReport) -> None:
    revs = ctx.revisions_by_date()
    version = ctx.tracking.get("version")
    if not revs or not isinstance(version, str):
        return
    draft = ctx.tracking.get("status") == "draft"
    last = str(revs[-1].get("number", ""))
    if _strip(version, pre=draft) != _strip(last, pre=draft):
        r.add(
            "6.1.16",
            f"document version {version!r} is not the latest revision {last!r}",
            "/document/tracking/version",
        )


def _t_6_1_17(ctx: _Context, r: ValidationReport) -> None:
    version = str(ctx.tracking.get("version", ""))
    if (_is_zero(version) or _has_pre(version)) and ctx.tracking.get("status") != "draft":
        r.add(
            "6.1.17",
            f"version {version!r} requires document status draft",
            "/document/tracking/status",
        )


def _t_6_1_18(ctx: _Context, r: ValidationReport) -> None:
    if ctx.tracking.get("status") not in ("final", "interim"):
        return
    for i, rev in enumerate(ctx.revisions()):
        if _is_zero(str(rev.get("number", ""))):
            r.add(
                "6.1.18",
                f"released document lists pre-release revision {rev.get('number')!r}",
                f"/document/tracking/revision_history/{i}/number",
            )


def _t_6_1_19(ctx: _Context, r: ValidationReport) -> None:
    for i, rev in enumerate(ctx.revisions()):
        if _has_pre(str(rev.get("number", ""))):
            r.add(
                "6.1.19",
                f"revision number {rev.get('number')!r} has a pre-release part",
                f"/document/tracking/revision_history/{i}/number",
            )


def _t_6_1_20(ctx: _Context, r: ValidationReport) -> None:
    version = str(ctx.tracking.get("version", ""))
    if ctx.tracking.get("status") in ("final", "interim") and _has_pre(version):
        r.add(
            "6.1.20",
            f"released document has pre-release version {version!r}",
            "/document/tracking/version",
        )


def _t_6_1_21(ctx: _Context, r: ValidationReport) -> None:
    majors = [_major(str(rev.get("number", ""))) for rev in ctx.revisions_by_date()]
    if not majors or any(m is None for m in majors):
        return
    values = [m for m in majors if m is not None]
    if values[0] not in (0, 1):
        r.add(
            "6.1.21",
            f"revision history starts at {values[0]}, not 0 or 1",
            "/document/tracking/revision_history",
        )
    for prev, cur in itertools.pairwise(values):
        if cur > prev + 1:
            r.add(
                "6.1.21",
                f"revision history jumps from {prev} to {cur}",
                "/document/tracking/revision_history",
            )


def _t_6_1_22(ctx: _Context, r: ValidationReport) -> None:
    seen: set[str] = set()
    for i, rev in enumerate(ctx.revisions()):
        number = str(rev.get("number", ""))
        if number in seen:
            r.add(
                "6.1.22",
                f"revision number {number!r} appears twice",
                f"/document/tracking/revision_history/{i}/number",
            )
        seen.add(number)


def _t_6_1_23(ctx: _Context, r: ValidationReport) -> None:
    seen: set[str] = set()
    for i, vuln in enumerate(ctx.vulns):
        cve = vuln.get("cve")
        if cve is None:
            continue
        if cve in seen:
            r.add(
                "6.1.23",
                f"{cve} is described by more than one vulnerability item",
                f"/vulnerabilities/{i}/cve",
            )
        seen.add(cve)


def _t_6_1_24(ctx: _Context, r: ValidationReport) -> None:
    for v_i, vuln in enumerate(ctx.vulns):
        seen: set[tuple[str, str]] = set()
        for k, inv in enumerate(as_list(vuln.get("involvements"))):
            inv = _obj(inv)
            key = (str(inv.get("party")), str(inv.get("date")))
            if key in seen:
                r.add(
                    "6.1.24",
                    f"involvement of {key[0]} on {key[1]} appears twice",
                    f"/vulnerabilities/{v_i}/involvements/{k}",
                )
            seen.add(key)


def _t_6_1_25(ctx: _Context, r: ValidationReport) -> None:
    for fpn, path in ctx.full_product_names():
        hashes = as_list(_obj(fpn.get("product_identification_helper")).get("hashes"))
        for h_i, entry in enumerate(hashes):
            algs = [
                str(_obj(fh).get("algorithm")) for fh in as_list(_obj(entry).get("file_hashes"))
            ]
            for alg in {a for a in algs if algs.count(a) > 1}:
                r.add(
                    "6.1.25",
                    f"hash algorithm {alg!r} is used twice for one file",
                    f"{path}/product_identification_helper/hashes/{h_i}",
                )


def _normalise_category(text: str) -> str:
    return re.sub(r"[\s_\-\u2010-\u2015\u2212]", "", text).lower()


def _t_6_1_26(ctx: _Context, r: ValidationReport) -> None:
    category = ctx.category
    if category in _PROFILES or category == "csaf_base":
        return
    if category.lower().startswith("csaf_"):
        r.add(
            "6.1.26", f"category {category!r} uses the reserved prefix csaf_", "/document/category"
        )
        return
    norm = _normalise_category(category)
    for value, name in _PROFILES.items():
        if norm in (
            _normalise_category(value[5:]),
            _normalise_category(name),
            _normalise_category(value),
        ):
            r.add(
                "6.1.26",
                f"category {category!r} imitates the profile {value}",
                "/document/category",
            )


def _t_6_1_27_1(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category not in ("csaf_informational_advisory", "csaf_security_incident_response"):
        return
    wanted = {"description", "details", "general", "summary"}
    if not any(_obj(n).get("category") in wanted for n in as_list(ctx.document.get("notes"))):
        r.add(
            "6.1.27.1",
            "document needs a note of category description, details, general or summary",
            "/document/notes",
        )


def _t_6_1_27_2(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category not in ("csaf_informational_advisory", "csaf_security_incident_response"):
        return
    if not any(
        _obj(x).get("category") == "external" for x in as_list(ctx.document.get("references"))
    ):
        r.add("6.1.27.2", "document needs an external reference", "/document/references")


def _t_6_1_27_3(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category == "csaf_informational_advisory" and "vulnerabilities" in ctx.doc:
        r.add(
            "6.1.27.3",
            "an informational advisory must not list vulnerabilities",
            "/vulnerabilities",
        )


def _t_6_1_27_4(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category in ("csaf_security_advisory", "csaf_vex") and "product_tree" not in ctx.doc:
        r.add("6.1.27.4", f"a {ctx.category} document needs a product tree", "/product_tree")


def _t_6_1_27_5(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category not in ("csaf_security_advisory", "csaf_vex"):
        return
    for i, vuln in enumerate(ctx.vulns):
        if "notes" not in vuln:
            r.add("6.1.27.5", "vulnerability has no notes", f"/vulnerabilities/{i}")


def _t_6_1_27_6(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category != "csaf_security_advisory":
        return
    for i, vuln in enumerate(ctx.vulns):
        if "product_status" not in vuln:
            r.add("6.1.27.6", "vulnerability has no product_status", f"/vulnerabilities/{i}")


def _t_6_1_27_7(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category != "csaf_vex":
        return
    wanted = ("fixed", "known_affected", "known_not_affected", "under_investigation")
    for i, vuln in enumerate(ctx.vulns):
        if not any(k in _obj(vuln.get("product_status")) for k in wanted):
            r.add(
                "6.1.27.7",
                "VEX vulnerability needs fixed, known_affected, "
                "known_not_affected or under_investigation",
                f"/vulnerabilities/{i}",
            )


def _t_6_1_27_8(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category != "csaf_vex":
        return
    for i, vuln in enumerate(ctx.vulns):
        if "cve" not in vuln and "ids" not in vuln:
            r.add("6.1.27.8", "VEX vulnerability needs a cve or ids", f"/vulnerabilities/{i}")


def _t_6_1_27_9(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category != "csaf_vex":
        return
    for i, vuln in enumerate(ctx.vulns):
        covered: set[str] = set()
        for flag in as_list(vuln.get("flags")):
            covered |= ctx.expand(_obj(flag))
        for threat in as_list(vuln.get("threats")):
            if _obj(threat).get("category") == "impact":
                covered |= ctx.expand(_obj(threat))
        for pid in as_list(_obj(vuln.get("product_status")).get("known_not_affected")):
            if str(pid) not in covered:
                r.add(
                    "6.1.27.9",
                    f"not-affected product {pid!r} has no impact statement",
                    f"/vulnerabilities/{i}/product_status/known_not_affected",
                )


def _t_6_1_27_10(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category != "csaf_vex":
        return
    for i, vuln in enumerate(ctx.vulns):
        covered: set[str] = set()
        for rem in as_list(vuln.get("remediations")):
            covered |= ctx.expand(_obj(rem))
        for pid in as_list(_obj(vuln.get("product_status")).get("known_affected")):
            if str(pid) not in covered:
                r.add(
                    "6.1.27.10",
                    f"affected product {pid!r} has no action statement",
                    f"/vulnerabilities/{i}/product_status/known_affected",
                )


def _t_6_1_27_11(ctx: _Context, r: ValidationReport) -> None:
    if ctx.category in ("csaf_security_advisory", "csaf_vex") and "vulnerabilities" not in ctx.doc:
        r.add("6.1.27.11", f"a {ctx.category} document needs vulnerabilities", "/vulnerabilities")


def _t_6_1_28(ctx: _Context, r: ValidationReport) -> None:
    lang, source = ctx.document.get("lang"), ctx.document.get("source_lang")
    if lang is not None and source is not None and str(lang).lower() == str(source).lower():
        r.add("6.1.28", f"lang and source_lang are both {lang!r}", "/document/source_lang")


def _t_6_1_29(ctx: _Context, r: ValidationReport) -> None:
    for i, vuln in enumerate(ctx.vulns):
        for k, rem in enumerate(as_list(vuln.get("remediations"))):
            if "product_ids" not in _obj(rem) and "group_ids" not in _obj(rem):
                r.add(
                    "6.1.29",
                    "remediation names no product or group",
                    f"/vulnerabilities/{i}/remediations/{k}",
                )


def _t_6_1_30(ctx: _Context, r: ValidationReport) -> None:
    numbers = [str(ctx.tracking.get("version", ""))]
    numbers += [str(rev.get("number", "")) for rev in ctx.revisions()]
    kinds = {"int" if _is_int(n) else "semver" for n in numbers if _is_int(n) or _semver(n)}
    if len(kinds) > 1:
        r.add("6.1.30", "integer and semantic versioning are mixed", "/document/tracking")


def _t_6_1_31(ctx: _Context, r: ValidationReport) -> None:
    for branch, path in ctx.branches():
        if branch.get("category") != "product_version":
            continue
        name = str(branch.get("name", ""))
        if name.lstrip().startswith(_RANGE_OPERATORS) or _RANGE_WORDS.search(name):
            r.add(
                "6.1.31",
                f"product_version {name!r} is a version range; use product_version_range",
                f"{path}/name",
            )


def _t_6_1_32(ctx: _Context, r: ValidationReport) -> None:
    for i, vuln in enumerate(ctx.vulns):
        for k, flag in enumerate(as_list(vuln.get("flags"))):
            if "product_ids" not in _obj(flag) and "group_ids" not in _obj(flag):
                r.add("6.1.32", "flag names no product or group", f"/vulnerabilities/{i}/flags/{k}")


def _t_6_1_33(ctx: _Context, r: ValidationReport) -> None:
    for i, vuln in enumerate(ctx.vulns):
        count: dict[str, int] = defaultdict(int)
        for flag in as_list(vuln.get("flags")):
            for pid in ctx.expand(_obj(flag)):
                count[pid] += 1
        for pid, n in count.items():
            if n > 1:
                r.add(
                    "6.1.33",
                    f"product {pid!r} has {n} VEX justification flags",
                    f"/vulnerabilities/{i}/flags",
                )


_TESTS = [
    ("6.1.1", _t_6_1_1),
    ("6.1.2", _t_6_1_2),
    ("6.1.3", _t_6_1_3),
    ("6.1.4", _t_6_1_4),
    ("6.1.5", _t_6_1_5),
    ("6.1.6", _t_6_1_6),
    ("6.1.7", _t_6_1_7),
    ("6.1.9", _t_6_1_9),
    ("6.1.10", _t_6_1_10),
    ("6.1.12", _t_6_1_12),
    ("6.1.13", _t_6_1_13),
    ("6.1.14", _t_6_1_14),
    ("6.1.15", _t_6_1_15),
    ("6.1.16", _t_6_1_16),
    ("6.1.17", _t_6_1_17),
    ("6.1.18", _t_6_1_18),
    ("6.1.19", _t_6_1_19),
    ("6.1.20", _t_6_1_20),
    ("6.1.21", _t_6_1_21),
    ("6.1.22", _t_6_1_22),
    ("6.1.23", _t_6_1_23),
    ("6.1.24", _t_6_1_24),
    ("6.1.25", _t_6_1_25),
    ("6.1.26", _t_6_1_26),
    ("6.1.27.1", _t_6_1_27_1),
    ("6.1.27.2", _t_6_1_27_2),
    ("6.1.27.3", _t_6_1_27_3),
    ("6.1.27.4", _t_6_1_27_4),
    ("6.1.27.5", _t_6_1_27_5),
    ("6.1.27.6", _t_6_1_27_6),
    ("6.1.27.7", _t_6_1_27_7),
    ("6.1.27.8", _t_6_1_27_8),
    ("6.1.27.9", _t_6_1_27_9),
    ("6.1.27.10", _t_6_1_27_10),
    ("6.1.27.11", _t_6_1_27_11),
    ("6.1.28", _t_6_1_28),
    ("6.1.29", _t_6_1_29),
    ("6.1.30", _t_6_1_30),
    ("6.1.31", _t_6_1_31),
    ("6.1.32", _t_6_1_32),
    ("6.1.33", _t_6_1_33),
]

MANDATORY_TESTS: tuple[str, ...] = (*tuple(t for t, _ in _TESTS), "6.1.8")
