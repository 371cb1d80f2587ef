"""Flows + inventory throughput: MedSentry against peers, on the same capture, in one run.

Generates the benchmark capture (bench/generate_capture.py) unless it exists, then runs,
each pinned to one core where ``taskset`` is available:

* ``medsentry analyze`` (flows + inventory only, and with protocol analyzers on),
* ``tshark -q -z conv,ip`` (conversation table),
* a dpkt loop building the same bidirectional 5-tuple table,
* NFStream (flow meter with nDPI) if it is installed,

and prints packets/s, peak RSS and each tool's speed relative to MedSentry's.

    python bench/run_flows_bench.py [--packets 1000000] [--capture bench/out/bench.pcap]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable
MEDSENTRY = str(Path(sys.executable).with_name("medsentry"))


@dataclass
class Result:
    name: str
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    detail: str = ""


def _pin(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", "0", *cmd] if shutil.which("taskset") else cmd


# Runs one command and reports its own peak RSS: a fresh launcher per measurement, so
# RUSAGE_CHILDREN covers exactly that command.
LAUNCHER = (
    "import resource, subprocess, sys;"
    "p = subprocess.run(sys.argv[1:]);"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print('RSS_KB', u.ru_maxrss, u.ru_utime + u.ru_stime, file=sys.stderr);"
    "sys.exit(p.returncode)"
)


def measure(name: str, cmd: list[str]) -> Result:
    """Run a command pinned to one core; its wall time and peak resident memory."""
    start = time.perf_counter()
    proc = subprocess.run([PY, "-c", LAUNCHER, *_pin(cmd)], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
    usage = next(line.split() for line in proc.stderr.splitlines() if line.startswith("RSS_KB"))
    detail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return Result(name, elapsed, int(usage[1]) / 1024, float(usage[2]), detail)


DPKT_LOOP = r"""
import sys, dpkt, socket
flows = {}
n = 0
with open(sys.argv[1], "rb") as fh:
    for ts, buf in dpkt.pcap.Reader(fh):
        n += 1
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, dpkt.ip.IP):
            continue
        l4 = ip.data
        sp = getattr(l4, "sport", 0); dp = getattr(l4, "dport", 0)
        a, b = (ip.src, sp), (ip.dst, dp)
        key = (ip.p, a, b) if a <= b else (ip.p, b, a)
        f = flows.get(key)
        if f is None:
            flows[key] = f = [ts, ts, 0, 0]
        f[1] = ts; f[2] += 1; f[3] += ip.len
print(f"{n} packets {len(flows)} flows")
"""

NFSTREAM_RUN = r"""
import sys
from nfstream import NFStreamer
n = sum(1 for _ in NFStreamer(source=sys.argv[1], n_dissections=0, statistical_analysis=False))
print(f"{n} flows")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--capture", type=Path, default=HERE / "out" / "bench.pcap")
    parser.add_argument("--skip-peers", action="store_true", help="Only run MedSentry.")
    args = parser.parse_args()
    cap: Path = args.capture
    if not cap.exists():
        cap.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [PY, str(HERE / "generate_capture.py"), str(cap), "--packets", str(args.packets)],
            check=True,
        )
    packets = args.packets
    out = cap.parent / "analyze-out"
    run = [MEDSENTRY, "analyze", str(cap), "--no-store", "--quiet"]
    results = [
        measure("medsentry analyze (flows+inventory)", [*run, "--no-protocols", "--no-detect"]),
        measure("medsentry analyze (+protocols)", [*run, "--no-detect"]),
        measure("medsentry analyze (+protocols, +detection)", run),
        measure(
            "medsentry analyze (all, --out, SQLite)",
            [
                MEDSENTRY,
                "analyze",
                str(cap),
                "--quiet",
                "--out",
                str(out),
                "--db",
                f"sqlite:///{out}/bench.db",
            ],
        ),
    ]
    if not args.skip_peers:
        if shutil.which("tshark"):
            results.append(
                measure(
                    "tshark -q -z conv,ip", ["tshark", "-n", "-q", "-r", str(cap), "-z", "conv,ip"]
                )
            )
        try:
            import dpkt  # noqa: F401

            results.append(measure("dpkt loop", [PY, "-c", DPKT_LOOP, str(cap)]))
        except ImportError:
            print("dpkt not installed: skipped")
        try:
            import nfstream  # noqa: F401

            results.append(measure("NFStream (no dissection)", [PY, "-c", NFSTREAM_RUN, str(cap)]))
        except ImportError:
            print("NFStream not installed (pip install nfstream): skipped")
    # CPU time is the fair measure on a shared machine; wall time is shown beside it.
    base = results[0].cpu_seconds
    size_mb = cap.stat().st_size / 1e6
    print(f"\ncapture: {cap} ({size_mb:.0f} MB, {packets:,} packets), one core each\n")
    head = f"{'tool':46} {'wall s':>7} {'CPU s':>7} {'packets/CPU-s':>14} {'peak RSS MB':>12}"
    print(head + f" {'speed vs flows-only':>20}")
    for r in results:
        pps = packets / r.cpu_seconds
        ratio = base / r.cpu_seconds
        print(
            f"{r.name:46} {r.seconds:7.2f} {r.cpu_seconds:7.2f} {pps:14,.0f} "
            f"{r.peak_rss_mb:12.0f} {ratio:19.2f}x"
        )
    report = {
        r.name: {
            "wall_seconds": r.seconds,
            "cpu_seconds": r.cpu_seconds,
            "packets_per_cpu_second": packets / r.cpu_seconds,
            "peak_rss_mb": r.peak_rss_mb,
        }
        for r in results
    }
    (cap.parent / "flows_bench.json").write_text(json.dumps(report, indent=2))
    if os.environ.get("CI"):
        print("(CI machine: figures are indicative only)")


if __name__ == "__main__":
    main()
