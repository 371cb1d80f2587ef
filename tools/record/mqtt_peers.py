"""MQTT peers with paho-mqtt against a real mosquitto broker.

Two wearables publish vitals (one speaks MQTT 3.1.1 anonymously, the other MQTT 5 with
properties and a password), the nurse station subscribes to the ward, and a device with a
stale password is refused.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from tools.record.actor import announce_ready, expect
from tools.record.fake_phi import BRAVO, CHARLIE
from tools.record.plan import MQTT_AUTH_PORT, MQTT_OPEN_PORT, MQTT_PASSWORD, MQTT_USER

WARD_TOPICS = "hospital/ward3/#"
SPO2_TOPIC = "hospital/ward3/bed12/spo2"
TEMP_TOPIC = "hospital/ward3/bed14/temp"
TEMP_COMMANDS = "hospital/ward3/bed14/temp/cmd"
CONNECT_TIMEOUT = 10.0


def broker_config(workdir: Path, password_file: Path) -> str:
    """mosquitto.conf: an open listener for legacy sensors and a password-protected one."""
    return "\n".join(
        [
            "per_listener_settings true",
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "user root",
            f"listener {MQTT_OPEN_PORT} 0.0.0.0",
            "allow_anonymous true",
            f"listener {MQTT_AUTH_PORT} 0.0.0.0",
            "allow_anonymous false",
            f"password_file {password_file}",
            "",
        ]
    )


class Session:
    """A paho client whose CONNACK outcome can be waited for."""

    def __init__(self, client_id: str, version: int, **client_kwargs: Any) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion(version),
            **client_kwargs,
        )
        self.version = version
        self.connected = threading.Event()
        self.reason: ReasonCode | None = None
        self.received: list[str] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.reason = reason
        self.connected.set()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not message.retain:  # retained state from earlier sessions is not a new reading
            self.received.append(message.topic)

    def open(self, host: str, port: int, keepalive: int = 30, **kwargs: Any) -> bool:
        self.client.connect(host, port, keepalive=keepalive, **kwargs)
        self.client.loop_start()
        expect(self.connected.wait(CONNECT_TIMEOUT), "no CONNACK from the broker")
        assert self.reason is not None
        return not self.reason.is_failure

    def close(self, **kwargs: Any) -> None:
        self.client.disconnect(**kwargs)
        self.client.loop_stop()


def _props(packet: int, **values: Any) -> Properties:
    props = Properties(packet)
    for name, value in values.items():
        setattr(props, name, value)
    return props


def nurse_station(params: dict[str, Any]) -> None:
    """Subscribe to the whole ward and stay until the expected readings arrived."""
    version = int(params["version"])
    session = Session("NURSE-STATION-3W", version)
    kwargs: dict[str, Any] = {}
    if version == mqtt.MQTTv5:
        kwargs["properties"] = _props(PacketTypes.CONNECT, SessionExpiryInterval=0)
    expect(session.open(params["server"], MQTT_OPEN_PORT, **kwargs), "nurse station refused")
    subscribed = threading.Event()
    session.client.on_subscribe = lambda *args: subscribed.set()
    if version == mqtt.MQTTv5:
        options = mqtt.SubscribeOptions(qos=1, noLocal=True)
        session.client.subscribe(WARD_TOPICS, options=options)
    else:
        session.client.subscribe(WARD_TOPICS, qos=1)
    expect(subscribed.wait(CONNECT_TIMEOUT), "no SUBACK")
    announce_ready()
    deadline = time.monotonic() + float(params.get("timeout", 60))
    while len(session.received) < int(params["expect"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    session.client.unsubscribe(WARD_TOPICS)
    time.sleep(0.1)
    session.close()
    expect(len(session.received) >= int(params["expect"]), f"got {len(session.received)} msgs")


def spo2_sensor(params: dict[str, Any]) -> None:
    """MQTT 3.1.1, anonymous: a will, a retained status, vitals at QoS 0, 1 and 2, a ping."""
    session = Session("SPO2-W3-B12", mqtt.MQTTv311, clean_session=True)
    session.client.will_set(f"{SPO2_TOPIC}/status", b"offline", qos=1, retain=True)
    keepalive = int(params.get("keepalive", 2))
    expect(session.open(params["server"], MQTT_OPEN_PORT, keepalive=keepalive), "spo2 refused")
    session.client.publish(f"{SPO2_TOPIC}/status", b"online", qos=1, retain=True).wait_for_publish()
    for n in range(int(params.get("count", 6))):
        reading = {"device": "SPO2-W3-B12", "mrn": BRAVO.mrn, "spo2": 97 - n % 3, "pulse": 74 + n}
        info = session.client.publish(SPO2_TOPIC, json.dumps(reading), qos=n % 3)
        info.wait_for_publish(CONNECT_TIMEOUT)
        time.sleep(float(params.get("interval", 0.3)))
    time.sleep(keepalive + 0.8)  # idle long enough for a PINGREQ/PINGRESP
    session.close()


def temperature_patch(params: dict[str, Any]) -> None:
    """MQTT 5 with a password: CONNECT, PUBLISH and SUBSCRIBE properties, user properties."""
    session = Session("TEMP-W3-B14", mqtt.MQTTv5)
    session.client.username_pw_set(MQTT_USER, MQTT_PASSWORD)
    connect_props = _props(
        PacketTypes.CONNECT,
        SessionExpiryInterval=300,
        ReceiveMaximum=10,
        MaximumPacketSize=4096,
        UserProperty=[("fw", "2.4.1"), ("ward", "3W")],
    )
    ok = session.open(
        params["server"], MQTT_AUTH_PORT, keepalive=30, clean_start=True, properties=connect_props
    )
    expect(ok, "temperature patch refused")
    session.client.subscribe(TEMP_COMMANDS, options=mqtt.SubscribeOptions(qos=1, noLocal=True))
    for n in range(int(params.get("count", 6))):
        reading = {"device": "TEMP-W3-B14", "mrn": CHARLIE.mrn, "temp_c": round(37.1 + n / 10, 1)}
        props = _props(
            PacketTypes.PUBLISH,
            PayloadFormatIndicator=1,
            ContentType="application/json",
            MessageExpiryInterval=120,
            ResponseTopic=TEMP_COMMANDS,
            UserProperty=[("unit", "Cel"), ("seq", str(n))],
        )
        info = session.client.publish(TEMP_TOPIC, json.dumps(reading), qos=1, properties=props)
        info.wait_for_publish(CONNECT_TIMEOUT)
        time.sleep(float(params.get("interval", 0.3)))
    session.client.unsubscribe(TEMP_COMMANDS)
    time.sleep(0.1)
    session.close(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Normal disconnection"))


def bad_login(params: dict[str, Any]) -> None:
    """A device still configured with the factory password: the broker refuses it."""
    version = int(params["version"])
    session = Session(params["client_id"], version)
    session.client.username_pw_set(MQTT_USER, params["password"])
    accepted = session.open(params["server"], MQTT_AUTH_PORT)
    session.client.loop_stop()
    expect(not accepted, "the broker accepted a wrong password")
