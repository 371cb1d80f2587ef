"""API latency at hospital scale: 10,000 devices, 1,000,000 flows, 5,000 alerts on loopback.

Builds a store (SQLite by default, or ``--db`` for PostgreSQL), starts ``medsentry serve``
in its own process, and drives it with concurrent clients; prints p50/p95/p99 latency for
the device list (random pages, sorts and searches), the device page (API detail and
the dashboard's HTML page, both with the device's alerts) and the alert queue. The target
is p99 < 200 ms.

    python bench/bench_api.py [--devices 10000] [--flows 1000000] [--alerts 5000]
                              [--clients 8] [--requests 400] [--db URL] [--keep]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from medsentry.api.auth import accounts, tokens
from medsentry.api.auth.roles import Role
from medsentry.inventory.device import Device
from medsentry.store import repository
from medsentry.store.alert_triage import status_counts
from medsentry.store.alerts import save_alerts
from medsentry.store.bulk import upsert_rows
from medsentry.store.db import Store

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
DAY = 86_400.0
T0 = 1_714_557_600.0
TYPES = [
    "infusion_pump",
    "patient_monitor",
    "ct",
    "mri",
    "workstation",
    "pacs",
    "printer",
    "wearable",
    "unknown",
]
MAKERS = ["BD", "Philips", "GE Healthcare", "Baxter", "Masimo", "Siemens", None]
CATEGORIES = ["recon_port_scan", "brute_force", "dos", "phi_cleartext", "new_external_peer"]


def ip_of(i: int) -> str:
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255 or 1}"


def build_store(url: str, n_devices: int, n_flows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    store = Store(url)
    started = time.perf_counter()
    capture = repository.record_capture(
        store, f"bench-{n_devices}-{n_flows}", "bench", 0, 0, T0, T0 + DAY
    )
    devices = []
    for i in range(1, n_devices + 1):
        peers = {ip_of(rnd.randint(1, n_devices)): rnd.randint(100, 10**7) for _ in range(8)}
        devices.append(
            Device(
                key=f"mac:02:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01",
                mac=f"02:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01",
                ips={ip_of(i)},
                vendor="Bench Vendor",
                first_seen=T0 + rnd.random() * DAY / 2,
                last_seen=T0 + DAY / 2 + rnd.random() * DAY / 2,
                services={("tcp", rnd.choice([104, 2575, 443, 1883]))},
                peers=peers,
                bytes_sent=rnd.randint(10**3, 10**9),
                bytes_received=rnd.randint(10**3, 10**9),
                type=rnd.choice(TYPES),
                manufacturer=rnd.choice(MAKERS),
                confidence=rnd.random(),
            )
        )
    repository.save_devices(store, devices, capture)
    print(f"  {n_devices:,} devices in {time.perf_counter() - started:.1f} s", flush=True)
    columns = repository.FLOW_COLUMNS  # the rows below are built in this order
    chunk = 50_000
    with store.engine.begin() as conn:
        for start in range(0, n_flows, chunk):
            rows = []
            for n in range(start, min(start + chunk, n_flows)):
                a, b = rnd.randint(1, n_devices), rnd.randint(1, n_devices)
                rows.append(
                    (
                        f"CB{n:010d}",
                        capture,
                        T0 + rnd.random() * DAY,
                        ip_of(a),
                        rnd.randint(1024, 65535),
                        ip_of(b),
                        rnd.choice((104, 2575, 443, 1883, 53)),
                        "tcp",
                        None,
                        rnd.random() * 10,
                        rnd.randint(0, 10**6),
                        rnd.randint(0, 10**6),
                        "SF",
                        "ShADadFf",
                        10,
                        10,
                        1000,
                        1000,
                        None,
                        None,
                        0,
                    )
                )
            upsert_rows(conn, repository.FLOWS, columns, rows, ["uid"])
    print(f"  {n_flows:,} flows in {time.perf_counter() - started:.1f} s", flush=True)
    accounts.create_user(store, "bench", "bench password 1234", Role.VIEWER)
    store.close()


def add_alerts(url: str, n_devices: int, n_alerts: int, seed: int = 11) -> None:
    """Attack episodes between the bench devices, once (deterministic ids)."""
    store = Store(url)
    if sum(status_counts(store).values()) >= n_alerts:
        store.close()
        return
    rnd = random.Random(seed)
    alerts = []
    for n in range(n_alerts):
        src = ip_of(rnd.randint(1, n_devices))
        targets = {
            f"{ip_of(rnd.randint(1, n_devices))}:{rnd.choice([22, 80, 104, 2575])}": rnd.randint(
                1, 50
            )
            for _ in range(rnd.randint(1, 20))
        }
        alerts.append(
            {
                "id": f"bench{n:015d}",
                "ts_start": T0 + n * DAY / n_alerts,
                "ts_end": T0 + n * DAY / n_alerts + rnd.random() * 600,
                "category": rnd.choice(CATEGORIES),
                "name": "bench episode",
                "severity": rnd.choice(["low", "medium", "high", "critical"]),
                "confidence": rnd.random(),
                "src": src,
                "dst": next(iter(targets)),
                "targets": targets,
                "devices": [src],
                "counts": {"probes": rnd.randint(10, 5000)},
                "evidence": {"uids": [f"CB{rnd.randrange(10**10):010d}"]},
                "mitre": ["T1046"],
            }
        )
    started = time.perf_counter()
    save_alerts(store, alerts)
    print(f"  {n_alerts:,} alerts in {time.perf_counter() - started:.1f} s", flush=True)
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def drive(base: str, token: str, keys: list[str], clients: int, requests: int) -> dict[str, Any]:
    """``clients`` threads, each sending ``requests`` requests spread over the scenarios."""
    kinds = ("device_list", "device_api", "device_page", "alert_list")
    lat: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors: list[str] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for i in range(requests):
                kind = kinds[i % len(kinds)]
                if kind == "alert_list":
                    url = "/api/v1/alerts"
                    params = {
                        "limit": 50,
                        "offset": rnd.randrange(0, 500),
                        "sort": rnd.choice(["ts_start", "severity"]),
                    }
                    if rnd.random() < 0.3:
                        params["category"] = rnd.choice(CATEGORIES)
                    if rnd.random() < 0.3:
                        params = {"limit": 50, "device": rnd.choice(keys)}
                elif kind == "device_list":
                    params: dict[str, Any] = {
                        "limit": 50,
                        "offset": rnd.randrange(0, len(keys) - 50),
                        "sort": rnd.choice(["last_seen", "bytes", "type", "key"]),
                        "order": rnd.choice(["asc", "desc"]),
                    }
                    if rnd.random() < 0.2:
                        params = {"limit": 50, "search": f"10.0.{rnd.randint(0, 39)}."}
                    if rnd.random() < 0.2:
                        params = {"limit": 50, "type": rnd.choice(TYPES)}
                    url = "/api/v1/devices"
                else:
                    params = {}
                    key = rnd.choice(keys)
                    url = f"/api/v1/devices/{key}" if kind == "device_api" else f"/devices/{key}"
                t = time.perf_counter()
                response = client.get(url, params=params)
                elapsed = (time.perf_counter() - t) * 1000
                with lock:
                    lat[kind].append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{url} {response.status_code}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    total = sum(len(v) for v in lat.values())
    return {
        "clients": clients,
        "requests": total,
        "throughput_rps": round(total / wall, 1),
        "errors": errors[:10],
        "latency_ms": {
            kind: {
                "n": len(v),
                "p50": round(statistics.median(v), 1),
                "p95": round(percentile(v, 0.95), 1),
                "p99": round(percentile(v, 0.99), 1),
                "max": round(max(v), 1),
            }
            for kind, v in lat.items()
            if v
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=300, help="per client")
    parser.add_argument("--db", help="database URL (default: a SQLite file in bench/out)")
    parser.add_argument("--keep", action="store_true", help="reuse an existing bench store")
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    db_file = OUT / f"api-{args.devices}-{args.flows}.db"
    url = args.db or f"sqlite:///{db_file}"
    if not (args.keep and args.db is None and db_file.exists()):
        if args.db is None and db_file.exists():
            db_file.unlink()
        print(f"building the store: {url}", flush=True)
        build_store(url, args.devices, args.flows)
    add_alerts(url, args.devices, args.alerts)
    store = Store(url)
    token, _ = tokens.create_token(store, "bench", "bench")
    page = repository.list_devices(store, limit=100_000)
    keys = [d.key for d in page.rows]
    store.close()

    port = free_port()
    medsentry = str(Path(sys.executable).with_name("medsentry"))
    server = subprocess.Popen(
        [medsentry, "serve", "--db", url, "--port", str(port), "--insecure-cookies"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        drive(base, token, keys, 2, 20)  # warm caches
        result = drive(base, token, keys, args.clients, args.requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    result.update(
        devices=len(keys), flows=args.flows, alerts=args.alerts, database=url.split(":")[0]
    )
    (OUT / "bench_api.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    worst = max(v["p99"] for v in result["latency_ms"].values())
    print(f"worst p99 {worst} ms: {'meets' if worst < 200 else 'misses'} the 200 ms target")


if __name__ == "__main__":
    main()
