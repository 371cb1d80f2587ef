"""HL7 v2 over MLLP with python-hl7: the interface engine and the senders.

The engine is python-hl7's asyncio MLLP server; plain senders use its blocking
``MLLPClient``. Two senders deliberately shape TCP segments the way real interfaces do:
one trickles a message out in small writes with Nagle off (a serial-to-IP gateway), the
other writes several framed messages at once (a batch flush after a network outage).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import hl7
from hl7.client import MLLPClient
from hl7.mllp import HL7StreamReader, HL7StreamWriter, open_hl7_connection, start_hl7_server
from tools.record import hl7_messages
from tools.record.actor import announce_ready, expect

MLLP_START = b"\x0b"
MLLP_END = b"\x1c\x0d"
SPLIT_CHUNK = 24  # bytes per write for the trickling sender


def frame(message: str) -> bytes:
    return MLLP_START + message.encode() + MLLP_END


def unframe(block: bytes) -> str:
    return block.strip(MLLP_START + MLLP_END).decode()


# -- the engine ---------------------------------------------------------------------


async def _handle_peer(reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
    try:
        while not writer.is_closing():
            message = await reader.readmessage()
            writer.writemessage(hl7.parse(hl7_messages.ack_for(str(message))))
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass  # the sender closed the connection
    finally:
        writer.close()


async def _serve(ports: list[int]) -> None:
    servers = [await start_hl7_server(_handle_peer, "0.0.0.0", port) for port in ports]
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    loop.add_signal_handler(signal.SIGINT, stopped.set)
    announce_ready()
    await stopped.wait()
    for server in servers:
        server.close()


def run_engine(params: dict[str, Any]) -> None:
    """The interface engine: accepts MLLP on every given port and ACKs each message."""
    asyncio.run(_serve([int(p) for p in params["ports"]]))


# -- senders ------------------------------------------------------------------------


def _ack_code(ack: str) -> str:
    return str(hl7.parse(ack).segment("MSA")(1))


def _expected_codes(params: dict[str, Any]) -> list[str]:
    return [hl7_messages.ack_for(m).split("MSA|")[1][:2] for m in _messages(params)]


def _messages(params: dict[str, Any]) -> list[str]:
    kind = params["messages"]
    if kind == "adt":
        return hl7_messages.ehr_adt_messages()
    count, first = int(params.get("count", 3)), int(params.get("first", 1))
    if kind == "monitor":
        return hl7_messages.monitor_messages(count, first)
    if kind == "pump":
        return hl7_messages.pump_messages(count, first)
    raise ValueError(f"unknown message set {kind!r}")


def _check_acks(params: dict[str, Any], codes: list[str]) -> None:
    expect(codes == _expected_codes(params), f"unexpected ACK codes {codes}")


def send_messages(params: dict[str, Any]) -> None:
    """One connection, one message at a time, waiting for each ACK (original mode)."""
    codes = []
    with MLLPClient(params["server"], int(params["port"])) as client:
        for message in _messages(params):
            codes.append(_ack_code(unframe(client.send_message(message))))
            time.sleep(float(params.get("interval", 0.2)))
    _check_acks(params, codes)


async def _read_acks(reader: HL7StreamReader, count: int) -> list[str]:
    return [str((await reader.readmessage()).segment("MSA")(1)) for _ in range(count)]


Talk = Callable[[HL7StreamReader, HL7StreamWriter, list[str]], Awaitable[list[str]]]


async def _exchange(params: dict[str, Any], talk: Talk) -> list[str]:
    reader, writer = await open_hl7_connection(params["server"], int(params["port"]))
    try:
        return await talk(reader, writer, _messages(params))
    finally:
        writer.close()
        await writer.wait_closed()


async def _trickle(
    reader: HL7StreamReader, writer: HL7StreamWriter, messages: list[str]
) -> list[str]:
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    codes = []
    for message in messages:
        data = frame(message)
        for start in range(0, len(data), SPLIT_CHUNK):
            writer.write(data[start : start + SPLIT_CHUNK])
            await writer.drain()
            await asyncio.sleep(0.004)
        codes += await _read_acks(reader, 1)
    return codes


async def _flush_at_once(
    reader: HL7StreamReader, writer: HL7StreamWriter, messages: list[str]
) -> list[str]:
    writer.write(b"".join(frame(m) for m in messages))  # one write, several messages
    await writer.drain()
    return await _read_acks(reader, len(messages))


def send_split(params: dict[str, Any]) -> None:
    """Each message goes out in many small TCP segments."""
    _check_acks(params, asyncio.run(_exchange(params, _trickle)))


def send_batch(params: dict[str, Any]) -> None:
    """Several complete MLLP frames in one TCP segment."""
    _check_acks(params, asyncio.run(_exchange(params, _flush_at_once)))
