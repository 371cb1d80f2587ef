"""Device identification: evidence from protocol events, rules from data files.

Evidence items are small dicts ``{"source": "hl7.obx18", "value": "Plum A+", "weight": 1.0}``
gathered per device from its traffic (``evidence_from_event``), its OUI vendor and the
services it answers on. Rules (``rules/*.yaml``, validated on load, extendable by users)
match a source and a regular expression and propose a type, manufacturer and/or model with
a weight. ``classify`` combines the support of every candidate (independent evidence:
``1 - prod(1 - w)``) and keeps an identity stable: a different type, manufacturer or model
only replaces the current one when it wins by a margin with strong or repeated support,
and would still win without its best weak item, so one weak hint never flips it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medsentry.errors import ConfigError
from medsentry.inventory.device import Device
from medsentry.protocols.base import ORIG, ProtocolEvent
from medsentry.protocols.dicom_uids import is_query_retrieve, is_storage
from medsentry.protocols.phi import safe_identifier

RULES_DIR = Path(__file__).with_name("rules")
RULES_ENV = "MEDSENTRY_DEVICE_RULES"  # extra rule folders, separated by os.pathsep

MAX_EVIDENCE = 200
TYPE_MIN = 0.5  # confidence needed to name a type at all
MANUFACTURER_MIN = 0.3
MODEL_MIN = 0.5
SWITCH_MARGIN = 0.2  # share of the current identity's doubt a challenger must remove...
STRONG = 0.6  # ...with one item at least this strong, or with MANY_ITEMS independent items
MANY_ITEMS = 3


class DeviceType(StrEnum):
    INFUSION_PUMP = "infusion_pump"
    PATIENT_MONITOR = "patient_monitor"
    IMAGING_MODALITY = "imaging_modality"
    PACS_ARCHIVE = "pacs_archive"
    HL7_INTERFACE_ENGINE = "hl7_interface_engine"
    EHR_SERVER = "ehr_server"
    IOMT_SENSOR = "iomt_sensor"
    MQTT_BROKER = "mqtt_broker"
    WORKSTATION = "workstation"
    NETWORK_INFRASTRUCTURE = "network_infrastructure"
    UNKNOWN = "unknown"


_GROUP_REF = re.compile(r"\\g<([A-Za-z_][A-Za-z0-9_]*|[0-9]+)>|\\([0-9]+)")


class Rule(BaseModel):
    """One identification rule: evidence ``source`` + ``match`` regex -> identity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    sources: tuple[str, ...] = Field(min_length=1)
    match: re.Pattern[str]
    type: DeviceType | None = None
    manufacturer: str | None = None
    model: str | None = None  # may use the match's groups: "\\g<model>", "\\1"
    weight: float = Field(gt=0.0, le=1.0)
    note: str | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("match", mode="before")
    @classmethod
    def _compile(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                return re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _proposes_something(self) -> Rule:
        if self.type is None and self.manufacturer is None and self.model is None:
            raise ValueError(f"rule {self.id} proposes no type, manufacturer or model")
        for template in (self.manufacturer, self.model):
            for name, number in _GROUP_REF.findall(template or ""):
                if name:
                    groups = self.match.groupindex
                    ok = name in groups or (name.isdecimal() and int(name) <= self.match.groups)
                else:
                    ok = int(number) <= self.match.groups
                if not ok:
                    raise ValueError(f"rule {self.id} refers to a group its regex does not have")
        return self


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def for_source(self, source: str) -> list[Rule]:
        return [r for r in self.rules if source in r.sources]


def _rule_files(extra_dirs: Iterable[Path]) -> list[Path]:
    files = sorted(RULES_DIR.glob("*.yaml"))
    for folder in extra_dirs:
        if not folder.is_dir():
            raise ConfigError(f"device rule folder {folder} does not exist; fix {RULES_ENV}")
        files += sorted(folder.glob("*.yaml"))
    return files


def load_rules(extra_dirs: Iterable[Path] = ()) -> RuleSet:
    """The packaged rules plus the YAML files of ``extra_dirs``, validated."""
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    for path in _rule_files(extra_dirs):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            parsed = RuleFile.model_validate(raw)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read device rules {path}: {exc}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"device rules {path} are invalid at {where}: {first['msg']}; fix the file"
            ) from exc
        for rule in parsed.rules:
            if rule.id in seen:
                raise ConfigError(
                    f"device rule id {rule.id!r} appears in {seen[rule.id]} and {path}; "
                    "rename one of them"
                )
            seen[rule.id] = path
            rules.append(rule)
    return RuleSet(tuple(rules))


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    extra = [Path(p) for p in os.environ.get(RULES_ENV, "").split(os.pathsep) if p]
    return load_rules(extra)


# --- Evidence from protocol events ------------------------------------------------------


def _item(source: str, value: Any, weight: float = 1.0) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    text = safe_identifier(str(value))
    return {"source": source, "value": text, "weight": weight} if text else None


def _sender_is(event: ProtocolEvent, role: str) -> bool:
    return (event.direction == ORIG) == (role == "orig")


def _hl7(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    f = event.fields
    if event.kind != "message":
        return []
    message = "^".join(p for p in (f.get("message_type"), f.get("trigger_event")) if p)
    if not _sender_is(event, role):
        return [
            _item("hl7.receiving_application", f.get("receiving_application")),
            _item("hl7.receives", message),
        ]
    out = [
        _item("hl7.sending_application", f.get("sending_application")),
        _item("hl7.sends", message),
    ]
    for device in f.get("device_ids", []):
        source = "hl7." + str(device.get("field", "")).lower().replace("-", "")
        out.append(_item(source, device.get("id")))
        out.append(_item("hl7.device_authority", device.get("authority")))
    out += [_item("hl7.mdc_code", code) for code in f.get("mdc_codes", [])]
    return out


def _dicom_roles(contexts: list[dict[str, Any]], side: str) -> list[str]:
    """What the offered abstract syntaxes say the requestor (scu) or acceptor (scp) does."""
    uids = [str(c.get("abstract_syntax") or "") for c in contexts]
    roles = [side]
    query = any(is_query_retrieve(u) for u in uids)
    if query:
        roles.append(f"query_{side}")
    elif any(is_storage(u) for u in uids):
        # Storage offered without query/retrieve: the requestor produces images.
        roles.append(f"storage_{side}")
    if "1.2.840.10008.5.1.4.31" in uids:
        roles.append(f"worklist_{side}")
    if "1.2.840.10008.3.1.2.3.3" in uids:
        roles.append(f"mpps_{side}")
    if "1.2.840.10008.1.20.1" in uids:
        roles.append(f"commitment_{side}")
    return roles


def _dicom(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    f = event.fields
    requestor = role == "orig"
    if event.kind == "associate_rq":
        side = "scu" if requestor else "scp"
        out = [_item("dicom.ae_title", f.get("calling_ae" if requestor else "called_ae"))]
        out += [
            _item("dicom.role", r) for r in _dicom_roles(f.get("presentation_contexts", []), side)
        ]
        if requestor:
            out.append(_item("dicom.implementation_version", f.get("implementation_version_name")))
            out.append(_item("dicom.implementation_uid", f.get("implementation_class_uid")))
        return out
    if event.kind == "associate_ac" and not requestor:
        return [
            _item("dicom.implementation_version", f.get("implementation_version_name")),
            _item("dicom.implementation_uid", f.get("implementation_class_uid")),
        ]
    if (
        event.kind == "dimse"
        and f.get("command") == "C-STORE-RQ"
        and event.direction == ORIG
        and requestor
        and not f.get("move_originator_ae")
    ):
        # Equipment attributes of images the association requestor sends on its own
        # initiative (not C-MOVE sub-operations, which forward someone else's images).
        return [
            _item("dicom.modality", f.get("modality")),
            _item("dicom.manufacturer", f.get("manufacturer")),
            _item("dicom.model", f.get("model")),
            _item("dicom.station_name", f.get("station_name")),
        ]
    return []


def _http(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    f = event.fields
    if event.kind == "request" and role == "orig":
        out = [_item("http.user_agent", f.get("user_agent"))]
        if f.get("fhir"):
            out.append(_item("role", "fhir_client"))
        return out
    if event.kind == "response" and role == "resp":
        out = [_item("http.server", f.get("server"))]
        if f.get("fhir") and f.get("fhir_resource"):
            out.append(_item("role", "fhir_server"))
        return out
    return []


def _mqtt(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    f = event.fields
    if event.kind == "connect":
        if role == "resp":
            return [_item("role", "mqtt_broker")]
        return [_item("role", "mqtt_client"), _item("mqtt.client_id", f.get("client_id"))]
    if event.kind == "publish" and role == "orig" and event.direction == ORIG:
        return [_item("mqtt.topic", f.get("topic"))]
    if event.kind == "subscribe" and role == "orig":
        topics = f.get("topics", [])[:8]
        return [
            _item("mqtt.subscription", t.get("topic") if isinstance(t, dict) else t) for t in topics
        ]
    return []


def _dhcp(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    f = event.fields
    if not _sender_is(event, role) or event.kind == "malformed":
        return []
    if f.get("op") == "reply":
        return [_item("role", "dhcp_server")]
    return [
        _item("dhcp.vendor_class", f.get("vendor_class")),
        _item("dhcp.hostname", f.get("hostname")),
        _item("dhcp.fingerprint", f.get("param_request_list")),
        _item("dhcp.mud_url", f.get("mud_url")),
    ]


def _dns(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    if event.kind == "response" and _sender_is(event, role):
        return [_item("role", "dns_server")]
    return []


def _tls(event: ProtocolEvent, role: str) -> list[dict[str, Any] | None]:
    f = event.fields
    if not _sender_is(event, role):
        return []
    if event.kind == "client_hello":
        return [_item("tls.sni", f.get("sni")), _item("tls.ja4", f.get("ja4"))]
    if event.kind == "certificate":
        return [_item("tls.cert_cn", f.get("subject_cn"))]
    return []


_EXTRACTORS: dict[str, Callable[[ProtocolEvent, str], list[dict[str, Any] | None]]] = {
    "hl7": _hl7,
    "dicom": _dicom,
    "http": _http,
    "mqtt": _mqtt,
    "dhcp": _dhcp,
    "dns": _dns,
    "tls": _tls,
}


def evidence_from_event(event: ProtocolEvent, role: str) -> list[dict[str, Any]]:
    """Evidence about the device at one end of the event's flow (``role`` "orig"/"resp")."""
    if role not in ("orig", "resp"):
        raise ValueError(f"role must be 'orig' or 'resp', not {role!r}")
    extractor = _EXTRACTORS.get(event.protocol)
    if extractor is None or event.kind == "malformed":
        return []
    return [item for item in extractor(event, role) if item is not None]


def add_evidence(device: Device, items: Iterable[dict[str, Any]]) -> None:
    """Merge evidence into ``device.evidence``: one entry per (source, value), counted."""
    index = {(e["source"], e["value"]): e for e in device.evidence}
    for item in items:
        key = (item["source"], item["value"])
        known = index.get(key)
        if known is not None:
            known["count"] = known.get("count", 1) + item.get("count", 1)
            known["weight"] = max(known.get("weight", 1.0), item.get("weight", 1.0))
        elif len(device.evidence) < MAX_EVIDENCE:
            entry = {
                "source": item["source"],
                "value": item["value"],
                "weight": item.get("weight", 1.0),
                "count": item.get("count", 1),
            }
            device.evidence.append(entry)
            index[key] = entry


# --- Classification ---------------------------------------------------------------------

_SERVICE_ROLES = {
    ("tcp", 104): "dicom_scp",
    ("tcp", 11112): "dicom_scp",
    ("tcp", 2575): "hl7_listener",
    ("tcp", 6661): "hl7_listener",
    ("tcp", 1883): "mqtt_broker",
    ("tcp", 8883): "mqtt_broker",
    ("udp", 67): "dhcp_server",
    ("udp", 53): "dns_server",
}


def _implicit_evidence(device: Device) -> list[dict[str, Any]]:
    """Evidence the device record itself carries: OUI vendor, services it answers on."""
    items = []
    if device.vendor:
        items.append({"source": "oui", "value": safe_identifier(device.vendor), "weight": 1.0})
    for service in sorted(device.services):
        role = _SERVICE_ROLES.get((str(service[0]).lower(), int(service[1])))
        if role:
            items.append({"source": "service", "value": role, "weight": 1.0})
    return items


@dataclass(slots=True)
class _Support:
    weights: list[float]

    @property
    def confidence(self) -> float:
        remaining = 1.0
        for w in self.weights:
            remaining *= 1.0 - w
        return 1.0 - remaining

    def convincing(self) -> bool:
        return any(w >= STRONG for w in self.weights) or len(self.weights) >= MANY_ITEMS

    def beats(self, held: float) -> bool:
        """Whether this support may replace an identity held with confidence ``held``.

        It must close a share (SWITCH_MARGIN) of the doubt left on the held identity, be
        convincing, and still do so without its best weak item: no single weak hint
        can be what tips the balance.
        """
        need = held + SWITCH_MARGIN * (1.0 - held)
        weak = [w for w in self.weights if w < STRONG]
        rest = list(self.weights)
        if weak:
            rest.remove(max(weak))
        return self.convincing() and _Support(rest).confidence >= need


def _pick(
    candidates: dict[str, _Support], current: str | None, minimum: float
) -> tuple[str | None, float]:
    """The winning value, keeping ``current`` unless a challenger clearly beats it."""
    ranked = sorted(candidates.items(), key=lambda kv: (-kv[1].confidence, kv[0]))
    if not ranked or ranked[0][1].confidence < minimum:
        if current in candidates:
            return current, candidates[current].confidence
        return None, 0.0
    best, support = ranked[0]
    if current and current != best:
        held = candidates[current].confidence if current in candidates else 0.0
        if not support.beats(held):
            return current, held
    return best, support.confidence


def classify(device: Device, rules: RuleSet | None = None) -> None:
    """Set ``type``, ``manufacturer``, ``model``, ``confidence`` and annotate ``evidence``."""
    ruleset = rules or default_rules()
    # Evidence may have been appended as plain items: fold duplicates before counting.
    items, device.evidence = device.evidence, []
    add_evidence(device, items)
    add_evidence(device, [i for i in _implicit_evidence(device) if not _known(device, i)])
    votes: dict[str, dict[str, _Support]] = {"type": {}, "manufacturer": {}, "model": {}}
    for item in device.evidence:
        supports: list[str] = []
        best_per_claim: dict[tuple[str, str], float] = {}
        for rule in ruleset.for_source(item["source"]):
            match = rule.match.search(str(item["value"]))
            if match is None:
                continue
            weight = rule.weight * float(item.get("weight", 1.0))
            for attr, value in (
                ("type", rule.type.value if rule.type else None),
                ("manufacturer", _expand(match, rule.manufacturer)),
                ("model", _expand(match, rule.model)),
            ):
                if value:
                    claim = (attr, value)
                    best_per_claim[claim] = max(best_per_claim.get(claim, 0.0), weight)
        for (attr, value), weight in sorted(best_per_claim.items()):
            votes[attr].setdefault(value, _Support([])).weights.append(weight)
            supports.append(f"{attr}={value}")
        item["supports"] = supports
    current_type = device.type if device.type != DeviceType.UNKNOWN else None
    kind, confidence = _pick(votes["type"], current_type, TYPE_MIN)
    device.type = kind or DeviceType.UNKNOWN.value
    device.confidence = round(confidence, 3) if kind else 0.0
    device.manufacturer = _pick(votes["manufacturer"], device.manufacturer, MANUFACTURER_MIN)[0]
    device.model = _pick(votes["model"], device.model, MODEL_MIN)[0]


def _known(device: Device, item: dict[str, Any]) -> bool:
    return any(
        e["source"] == item["source"] and e["value"] == item["value"] for e in device.evidence
    )


def _expand(match: re.Match[str], template: str | None) -> str | None:
    if not template:
        return None
    try:
        return safe_identifier(match.expand(template), 64) or None
    except (re.error, IndexError):
        return None
