"""MQTT vocabularies from the OASIS specifications (3.1, 3.1.1 and 5.0).

Packet types, CONNACK return codes, MQTT 5 reason codes and the MQTT 5 property table.
These are facts of the protocol, not settings, so they live in code.
"""

from __future__ import annotations

from enum import IntEnum


class PacketType(IntEnum):
    CONNECT = 1
    CONNACK = 2
    PUBLISH = 3
    PUBACK = 4
    PUBREC = 5
    PUBREL = 6
    PUBCOMP = 7
    SUBSCRIBE = 8
    SUBACK = 9
    UNSUBSCRIBE = 10
    UNSUBACK = 11
    PINGREQ = 12
    PINGRESP = 13
    DISCONNECT = 14
    AUTH = 15  # MQTT 5 only; reserved before


# Fixed-header flags every packet type except PUBLISH must carry (MQTT 3.1.1 §2.2.2).
REQUIRED_FLAGS: dict[int, int] = {t: 0 for t in range(1, 16)}
REQUIRED_FLAGS[PacketType.PUBREL] = 0b0010
REQUIRED_FLAGS[PacketType.SUBSCRIBE] = 0b0010
REQUIRED_FLAGS[PacketType.UNSUBSCRIBE] = 0b0010
del REQUIRED_FLAGS[PacketType.PUBLISH]

PROTOCOL_NAMES = {"MQTT", "MQIsdp"}
PROTOCOL_LEVELS = {3: "3.1", 4: "3.1.1", 5: "5.0"}

# CONNACK return codes of MQTT 3.1 / 3.1.1.
CONNACK_V3: dict[int, str] = {
    0: "accepted",
    1: "unacceptable_protocol_version",
    2: "identifier_rejected",
    3: "server_unavailable",
    4: "bad_user_name_or_password",
    5: "not_authorized",
}

# MQTT 5 reason codes (§2.4). Code 0 and 1/2 read differently per packet type.
REASON_V5: dict[int, str] = {
    0x04: "disconnect_with_will_message",
    0x10: "no_matching_subscribers",
    0x11: "no_subscription_existed",
    0x18: "continue_authentication",
    0x19: "re_authenticate",
    0x80: "unspecified_error",
    0x81: "malformed_packet",
    0x82: "protocol_error",
    0x83: "implementation_specific_error",
    0x84: "unsupported_protocol_version",
    0x85: "client_identifier_not_valid",
    0x86: "bad_user_name_or_password",
    0x87: "not_authorized",
    0x88: "server_unavailable",
    0x89: "server_busy",
    0x8A: "banned",
    0x8B: "server_shutting_down",
    0x8C: "bad_authentication_method",
    0x8D: "keep_alive_timeout",
    0x8E: "session_taken_over",
    0x8F: "topic_filter_invalid",
    0x90: "topic_name_invalid",
    0x91: "packet_identifier_in_use",
    0x92: "packet_identifier_not_found",
    0x93: "receive_maximum_exceeded",
    0x94: "topic_alias_invalid",
    0x95: "packet_too_large",
    0x96: "message_rate_too_high",
    0x97: "quota_exceeded",
    0x98: "administrative_action",
    0x99: "payload_format_invalid",
    0x9A: "retain_not_supported",
    0x9B: "qos_not_supported",
    0x9C: "use_another_server",
    0x9D: "server_moved",
    0x9E: "shared_subscriptions_not_supported",
    0x9F: "connection_rate_exceeded",
    0xA0: "maximum_connect_time",
    0xA1: "subscription_identifiers_not_supported",
    0xA2: "wildcard_subscriptions_not_supported",
}

# CONNACK codes that mean "your credentials were refused" (v3 and v5).
AUTH_FAILURE_V3 = frozenset({4, 5})
AUTH_FAILURE_V5 = frozenset({0x86, 0x87, 0x8C})


def reason_name(code: int, packet: int, version: int | None) -> str:
    """Readable name of a CONNACK return code or an MQTT 5 reason code."""
    if packet == PacketType.CONNACK and version != 5 and code in CONNACK_V3:
        return CONNACK_V3[code]
    if packet == PacketType.SUBACK and code in (0, 1, 2):
        return f"granted_qos_{code}"
    if packet == PacketType.SUBACK and code == 0x80 and version != 5:
        return "failure"
    if code == 0:
        return "normal_disconnection" if packet == PacketType.DISCONNECT else "success"
    return REASON_V5.get(code, f"unknown_{code}")


def is_auth_failure(code: int, version: int | None) -> bool:
    """Whether a CONNACK code says the credentials were refused."""
    if version == 5:
        return code in AUTH_FAILURE_V5
    return code in AUTH_FAILURE_V3 or code in AUTH_FAILURE_V5


class PropType(IntEnum):
    BYTE = 1
    U16 = 2
    U32 = 3
    VARINT = 4
    UTF8 = 5
    BINARY = 6
    PAIR = 7


# MQTT 5 properties (§2.2.2.2): id -> (name, type).
PROPERTIES: dict[int, tuple[str, PropType]] = {
    0x01: ("payload_format_indicator", PropType.BYTE),
    0x02: ("message_expiry_interval", PropType.U32),
    0x03: ("content_type", PropType.UTF8),
    0x08: ("response_topic", PropType.UTF8),
    0x09: ("correlation_data", PropType.BINARY),
    0x0B: ("subscription_identifier", PropType.VARINT),
    0x11: ("session_expiry_interval", PropType.U32),
    0x12: ("assigned_client_identifier", PropType.UTF8),
    0x13: ("server_keep_alive", PropType.U16),
    0x15: ("authentication_method", PropType.UTF8),
    0x16: ("authentication_data", PropType.BINARY),
    0x17: ("request_problem_information", PropType.BYTE),
    0x18: ("will_delay_interval", PropType.U32),
    0x19: ("request_response_information", PropType.BYTE),
    0x1A: ("response_information", PropType.UTF8),
    0x1C: ("server_reference", PropType.UTF8),
    0x1F: ("reason_string", PropType.UTF8),
    0x21: ("receive_maximum", PropType.U16),
    0x22: ("topic_alias_maximum", PropType.U16),
    0x23: ("topic_alias", PropType.U16),
    0x24: ("maximum_qos", PropType.BYTE),
    0x25: ("retain_available", PropType.BYTE),
    0x26: ("user_property", PropType.PAIR),
    0x27: ("maximum_packet_size", PropType.U32),
    0x28: ("wildcard_subscription_available", PropType.BYTE),
    0x29: ("subscription_identifier_available", PropType.BYTE),
    0x2A: ("shared_subscription_available", PropType.BYTE),
}


class Malformation:
    """Values of the ``reason`` field of ``kind="malformed"`` MQTT events."""

    BAD_REMAINING_LENGTH = "bad_remaining_length"  # more than 4 length bytes
    RESERVED_TYPE = "reserved_packet_type"  # type 0, or 15 before MQTT 5
    INVALID_FLAGS = "invalid_flags"  # fixed-header flags not allowed for the type
    INVALID_QOS = "invalid_qos"  # QoS 3 in PUBLISH, will or subscription
    TRUNCATED = "truncated"  # a field runs past the packet's remaining length
    PROPERTY_LENGTH_OVERFLOW = "property_length_overflow"  # properties past the packet
    UNKNOWN_PROPERTY = "unknown_property"  # MQTT 5 property id not in the spec
    DUPLICATE_PROPERTY = "duplicate_property"  # property allowed once appears twice
    INVALID_PROTOCOL_NAME = "invalid_protocol_name"  # CONNECT not "MQTT"/"MQIsdp"
    INVALID_PROTOCOL_LEVEL = "invalid_protocol_level"  # CONNECT level not 3, 4 or 5
    INVALID_CONNECT_FLAGS = "invalid_connect_flags"  # reserved bit or will bits
    INVALID_LENGTH = "invalid_length"  # fixed-size packet with a wrong length
    EMPTY_TOPIC_LIST = "empty_topic_list"  # SUBSCRIBE/UNSUBSCRIBE without topics
    INCOMPLETE_FRAME = "incomplete_frame"  # the connection ended inside a packet


class Anomaly:
    """Values of the ``reason`` field of ``kind="anomaly"`` MQTT events (session order)."""

    MISSING_CONNECT = "missing_connect"  # CONNACK without a CONNECT seen
    UNINTRODUCED_MESSAGE = "unintroduced_message"  # traffic before CONNECT/CONNACK
    DOUBLE_CONNECT = "double_connect"  # a second CONNECT on one connection
