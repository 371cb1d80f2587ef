"""Does an MQTT publish payload carry patient data? (Looks, never copies.)

MQTT payloads are free-form: medical gateways publish HL7 v2 messages, FHIR JSON or
their own JSON. The first bytes decide a ``payload_kind`` (``empty``, ``hl7``,
``fhir_json``, ``json``, ``xml``, ``text``, ``binary``) and whether patient markers from
``mqtt_phi.yaml`` and the shared PHI catalogue appear.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medsentry.errors import ConfigError
from medsentry.protocols.phi import catalogue

MARKERS_PATH = Path(__file__).with_name("mqtt_phi.yaml")

_KEY = re.compile(rb'"([A-Za-z0-9_.\-]{1,64})"\s*:')
_TAG = re.compile(rb"<([A-Za-z][A-Za-z0-9_.\-]{0,63})[\s/>]")
_RESOURCE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]{1,64})"')
_FOLD = re.compile(r"[_.\-]")
_LAYOUT = {9: None, 10: None, 13: None}  # tab and line ends do not make text binary


class MqttPhiMarkers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inspect_bytes: int = Field(ge=64, le=65536)
    keys: frozenset[str]


@lru_cache(maxsize=1)
def markers() -> MqttPhiMarkers:
    """The markers shipped with the package, validated once."""
    try:
        raw = yaml.safe_load(MARKERS_PATH.read_text(encoding="utf-8"))
        loaded = MqttPhiMarkers.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        first = " ".join(str(exc).splitlines()[:3])
        raise ConfigError(f"{MARKERS_PATH} is invalid, fix it and retry: {first}") from exc
    return loaded.model_copy(update={"keys": frozenset(_fold(k) for k in loaded.keys)})


@lru_cache(maxsize=1)
def _folded_keys() -> frozenset[bytes]:
    return frozenset(k.encode() for k in markers().keys)


def _fold(name: str) -> str:
    return _FOLD.sub("", name).casefold()


def _fold_bytes(name: bytes) -> bytes:
    return name.translate(None, b"_.-").lower()


def payload_kind(head: bytes) -> str:
    text = head.lstrip(b"\x0b \t\r\n\xef\xbb\xbf")  # MLLP start byte, spaces, BOM
    if not head:
        return "empty"
    if text.startswith(b"MSH|"):
        return "hl7"
    if text[:1] in (b"{", b"["):
        return "fhir_json" if _RESOURCE.search(text) else "json"
    if text[:1] == b"<":
        return "xml"
    try:  # a head cut inside a multi-byte character is still text
        decoded = codecs.getincrementaldecoder("utf-8")().decode(text, final=False)
    except UnicodeDecodeError:
        return "binary"
    return "text" if decoded.translate(_LAYOUT).isprintable() else "binary"


def _hl7_has_phi(head: bytes) -> bool:
    cat = catalogue()
    for segment in re.split(rb"[\r\n]+", head):
        seg_id = segment[:3].decode("ascii", errors="replace")
        if seg_id in cat.hl7_segments:
            return True
        field_no = cat.hl7_value_fields.get(seg_id)
        if field_no is not None:
            fields = segment.split(b"|")
            if len(fields) > field_no and fields[field_no].strip():
                return True
    return False


def has_phi(head: bytes, kind: str) -> bool:
    """Whether the payload head shows patient data of the given kind."""
    if kind == "hl7":
        return _hl7_has_phi(head)
    keys = _folded_keys()
    if kind == "fhir_json":
        patient = catalogue().fhir_patient_resources
        if any(m.decode() in patient for m in _RESOURCE.findall(head)):
            return True
    if kind in ("json", "fhir_json"):
        return any(_fold_bytes(k) in keys for k in _KEY.findall(head))
    if kind == "xml":
        return any(_fold_bytes(t) in keys for t in _TAG.findall(head))
    return False
