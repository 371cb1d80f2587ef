"""Control catalogues: shipped files load and are consistent; broken files are refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from medsentry.compliance.catalogue import (
    CATALOGUE_DIR,
    find_control,
    load_catalogue,
    load_profile,
    load_risks,
)
from medsentry.errors import ConfigError


@pytest.mark.parametrize("profile", ["hospital", "manufacturer"])
def test_profiles_load_with_references(profile: str) -> None:
    catalogues = load_profile(profile)
    assert catalogues
    for catalogue in catalogues:
        assert catalogue.version and catalogue.source
        for control in catalogue.controls:
            assert control.reference.strip()
            # Our own words, short: never a pasted paragraph of regulation.
            assert len(control.text) < 400, control.id


def test_hospital_profile_covers_the_technical_safeguards() -> None:
    ids = {c.id for cat in load_profile("hospital") for c in cat.controls}
    for paragraph in ("a.1", "a.2.i", "a.2.ii", "a.2.iii", "a.2.iv", "b", "c.1", "c.2", "d", "e.1"):
        assert f"hipaa.164.312.{paragraph}" in ids
    assert {f"cpg.e{i}" for i in range(1, 11)} <= ids
    assert {f"cpg.n{i}" for i in range(1, 11)} <= ids


def test_proposed_rule_is_marked_proposed() -> None:
    nprm = next(c for c in load_profile("hospital") if c.id == "hipaa_nprm_2025")
    assert all(c.status == "proposed" for c in nprm.controls)
    assert any("PROPOSED" in caveat for caveat in nprm.caveats)
    final = next(c for c in load_profile("hospital") if c.id == "hipaa_security_rule")
    assert all(c.status == "final" for c in final.controls)


def test_unverified_cpg_names_keep_their_caveat(corpus: Path) -> None:
    """The HPH goals TSV marks some enhanced names unverified: the catalogue says so too."""
    tsv = corpus / "prove" / "frameworks" / "hph_cpg" / "hph_cpgs.tsv"
    unverified = set()
    for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
        tier, n, _name, _para, verification, _seen = line.split("\t")
        if "NOT VERIFIED" in verification or "partially" in verification:
            unverified.add(f"cpg.{'e' if tier == 'essential' else 'n'}{n}")
    cpg = next(c for c in load_profile("hospital") if c.id == "hph_cpg")
    by_id = {c.id: c for c in cpg.controls}
    assert unverified
    for control_id in unverified:
        assert by_id[control_id].caveat, control_id


def test_manufacturer_profile_covers_524b_and_fda_items() -> None:
    ids = {c.id for cat in load_profile("manufacturer") for c in cat.controls}
    assert {"524b.b1", "524b.b2", "524b.b3"} <= ids
    for item in (
        "threat_model",
        "risk_assessment",
        "sbom",
        "unresolved_anomalies",
        "architecture",
        "testing_fuzz",
        "testing_binary",
        "labeling",
        "vulnerability_management_plan",
        "metrics",
    ):
        assert f"fda.{item}" in ids
    assert {"mdr.gspr.17.2", "mdr.gspr.17.4", "mdr.gspr.18.8"} <= ids


def test_risks_are_all_referenced() -> None:
    used = {r for cat in load_profile("manufacturer") for c in cat.controls for r in c.risks}
    assert {r.id for r in load_risks().risks} == used


def test_find_control() -> None:
    profile, catalogue, control = find_control("hipaa.164.312.e.1")
    assert (profile, catalogue.id) == ("hospital", "hipaa_security_rule")
    assert control.evidence[0].evaluator == "transmission.phi_cleartext"
    with pytest.raises(ConfigError, match="unknown control"):
        find_control("no.such.control")


def _broken(tmp_path: Path, mutate: object) -> Path:
    directory = tmp_path / "catalogues"
    shutil.copytree(CATALOGUE_DIR, directory)
    path = directory / "hipaa_security_rule.yaml"
    data = yaml.safe_load(path.read_text())
    mutate(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data))
    return directory


def test_unknown_evaluator_is_refused(tmp_path: Path) -> None:
    def mutate(d: dict) -> None:  # type: ignore[type-arg]
        d["controls"][0]["evidence"] = [{"evaluator": "no.such.evaluator"}]

    with pytest.raises(ConfigError, match="unknown evaluator"):
        load_profile.__wrapped__("hospital", _broken(tmp_path, mutate))


def test_bad_evaluator_parameters_are_refused(tmp_path: Path) -> None:
    def mutate(d: dict) -> None:  # type: ignore[type-arg]
        d["controls"][0]["evidence"] = [
            {"evaluator": "inventory.coverage", "params": {"pass_at": 7}}
        ]

    with pytest.raises(ConfigError, match=r"parameters of inventory\.coverage"):
        load_profile.__wrapped__("hospital", _broken(tmp_path, mutate))


def test_duplicate_ids_and_empty_controls_are_refused(tmp_path: Path) -> None:
    def duplicate(d: dict) -> None:  # type: ignore[type-arg]
        d["controls"].append(dict(d["controls"][0]))

    directory = _broken(tmp_path / "a", duplicate)
    with pytest.raises(ConfigError, match="appears twice"):
        load_catalogue(directory / "hipaa_security_rule.yaml")

    def empty(d: dict) -> None:  # type: ignore[type-arg]
        d["controls"][0].pop("evidence", None)
        d["controls"][0].pop("attestation", None)

    with pytest.raises(ConfigError, match="neither evidence nor an attestation"):
        load_profile.__wrapped__("hospital", _broken(tmp_path / "b", empty))


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    def mutate(d: dict) -> None:  # type: ignore[type-arg]
        d["controls"][0]["severity"] = "high"

    directory = _broken(tmp_path, mutate)
    with pytest.raises(ConfigError, match="severity"):
        load_catalogue(directory / "hipaa_security_rule.yaml")
