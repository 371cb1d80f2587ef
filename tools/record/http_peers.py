"""The EHR's FHIR-style REST service (plain HTTP and HTTPS) and its clients.

The server is the standard library's HTTP server; the plain client is httpx with a
persistent connection, the TLS client Python's ssl module (OpenSSL) with SNI and ALPN.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from tools.record import fhir_resources as fhir
from tools.record.actor import expect, serve_until_terminated
from tools.record.fake_phi import ALPHA, BRAVO, PATIENTS, patient_by_fhir_id

USER_AGENT = "NurseStation-FHIR/2.3 (ward 3W)"
TLS_USER_AGENT = "NurseStation-Portal/2.3"
RESOURCE_PATH = re.compile(r"^/fhir/(?P<type>[A-Za-z]+)(?:/(?P<id>[A-Za-z0-9\-.]+))?$")


class FhirHandler(BaseHTTPRequestHandler):
    server_version = "DemoEHR-FHIR/4.0.1"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep patient paths out of the recorder's logs

    def _send(self, status: int, body: dict[str, Any], location: str = "") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{fhir.FHIR_JSON}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/fhir/metadata":
            self._send(200, fhir.capability_statement())
            return
        match = RESOURCE_PATH.match(url.path)
        kind, rid = (match["type"], match["id"]) if match else ("", None)
        if kind == "Patient" and rid and (p := patient_by_fhir_id(rid)):
            self._send(200, fhir.patient(p))
        elif kind == "Observation" and rid is None:
            wanted = parse_qs(url.query).get("patient", [""])[0]
            p = patient_by_fhir_id(wanted)
            if p is None:
                self._send(404, fhir.operation_outcome("unknown patient"))
            else:
                self._send(200, fhir.observations_bundle(p))
        elif kind == "Device" and rid == "pump-3w-014":
            self._send(200, fhir.infusion_pump_device())
        else:
            self._send(404, fhir.operation_outcome(f"no {kind or 'resource'} here"))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/fhir/Observation" or body.get("resourceType") != "Observation":
            self._send(400, fhir.operation_outcome("only Observation can be created"))
            return
        body["id"] = "obs-manual-1"
        self._send(201, body, location="/fhir/Observation/obs-manual-1/_history/1")


def run_ehr_web(params: dict[str, Any]) -> None:
    """FHIR over plain HTTP on one port and over HTTPS (self-signed, SNI aware) on another."""
    plain = ThreadingHTTPServer(("0.0.0.0", int(params["http_port"])), FhirHandler)
    secure = ThreadingHTTPServer(("0.0.0.0", int(params["https_port"])), FhirHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(params["cert"], params["key"])
    context.set_alpn_protocols(["http/1.1"])
    secure.socket = context.wrap_socket(secure.socket, server_side=True)
    for server in (plain, secure):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        plain.shutdown()
        secure.shutdown()

    serve_until_terminated(stop)


def fhir_client(params: dict[str, Any]) -> None:
    """The nurse station reads a chart, records a manual reading and looks up a pump."""
    base = f"http://{params['server']}:{params['port']}/fhir"
    headers = {"Accept": fhir.FHIR_JSON, "User-Agent": USER_AGENT}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        expect(client.get("/metadata").status_code == 200, "metadata failed")
        for chart in PATIENTS:
            expect(client.get(f"/Patient/{chart.fhir_id}").status_code == 200, "Patient read")
        found = client.get("/Observation", params={"patient": ALPHA.fhir_id})
        expect(found.json().get("total") == 2, "Observation search failed")
        manual = fhir.observation(BRAVO, "new", "8310-5", "Body temperature", 37.4, "Cel")
        del manual["id"]
        created = client.post(
            "/Observation",
            content=json.dumps(manual),
            headers={"Content-Type": f"{fhir.FHIR_JSON}; charset=utf-8"},
        )
        expect(created.status_code == 201, "Observation create failed")
        expect(client.get("/Device/pump-3w-014").status_code == 200, "Device read failed")
        expect(client.get("/Patient/999").status_code == 404, "missing Patient should be 404")


def _tls_get(server: str, port: int, sni: str, cafile: str, version: ssl.TLSVersion) -> bytes:
    """One HTTPS request with a pinned protocol version; returns the raw HTTP response."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["http/1.1"])
    path = f"/fhir/Patient/{ALPHA.fhir_id}" if sni.startswith("ehr.") else "/fhir/metadata"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {sni}\r\nUser-Agent: {TLS_USER_AGENT}\r\n"
        f"Accept: {fhir.FHIR_JSON}\r\nConnection: close\r\n\r\n"
    )
    chunks = []
    with (
        socket.create_connection((server, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        tls.sendall(request.encode())
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def tls_client(params: dict[str, Any]) -> None:
    """Two HTTPS requests: TLS 1.2 (certificate visible on the wire) and TLS 1.3."""
    server, port, cafile = params["server"], int(params["port"]), params["cafile"]
    for sni, version in (
        ("ehr.hospital.example", ssl.TLSVersion.TLSv1_2),
        ("fhir.hospital.example", ssl.TLSVersion.TLSv1_3),
    ):
        response = _tls_get(server, port, sni, cafile, version)
        expect(response.startswith(b"HTTP/1.1 200"), f"HTTPS with {version.name} failed")
