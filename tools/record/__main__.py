"""Record the demo capture and the per-protocol fixtures.

    sudo .venv/bin/python -m tools.record [--only NAME ...] [--workdir DIR]

Needs root (network namespaces) and: iproute2, ethtool, tcpdump, mosquitto, dnsmasq-base,
udhcpc, openssl. Everything runs inside private namespaces; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from tools.record.capture import BridgeCapture
from tools.record.lab import REPO_ROOT, Lab, RecordError
from tools.record.manifest import write_fake_phi, write_manifest
from tools.record.scenarios import DEMO, FIXTURES, Recording
from tools.record.ward import DHCP_HOSTS, Ward

FIXTURE_DIR = REPO_ROOT / "tests" / "fixtures" / "captures"
DEMO_PATH = REPO_ROOT / "src" / "medsentry" / "examples" / DEMO.filename
FIXTURE_LIMIT = 300 * 1024
DEMO_LIMIT = 2 * 1024 * 1024


def record(ward: Ward, rec: Recording, out: Path, limit: int) -> None:
    """Record one scenario; the committed file is replaced only by a complete recording."""
    ward.lab.flush_neighbours()
    started = time.monotonic()
    fresh = ward.lab.workdir / rec.filename
    with BridgeCapture(fresh, ward.lab.workdir / f"tcpdump-{rec.filename}.log"):
        rec.run(ward)
    size = fresh.stat().st_size
    print(f"{out.name}: {size} bytes in {time.monotonic() - started:.1f}s", flush=True)
    if size > limit:
        raise RecordError(f"{out.name} is {size} bytes, over the {limit}-byte budget")
    shutil.copyfile(fresh, out)


def run(selected: set[str], workdir: Path) -> None:
    names = {rec.filename for rec in FIXTURES} | {DEMO.filename}
    if unknown := selected - names:
        raise RecordError(f"unknown recordings {sorted(unknown)}; choose from {sorted(names)}")
    wanted = [rec for rec in FIXTURES if not selected or rec.filename in selected]
    with Lab(workdir) as lab:
        ward = Ward(lab)
        ward.start_network_services()
        dhcp = next(rec for rec in FIXTURES if rec.filename == "dhcp.pcap")
        if dhcp in wanted:
            record(ward, dhcp, FIXTURE_DIR / dhcp.filename, FIXTURE_LIMIT)
        else:
            for host in DHCP_HOSTS:  # the wearables need addresses for the other scenarios
                ward.dhcp(host)
        ward.start_servers()
        for rec in wanted:
            if rec is not dhcp:
                record(ward, rec, FIXTURE_DIR / rec.filename, FIXTURE_LIMIT)
        if not selected or DEMO.filename in selected:
            ward.by_name = True
            record(ward, DEMO, DEMO_PATH, DEMO_LIMIT)
    write_fake_phi(FIXTURE_DIR / "fake_phi.json")
    write_manifest(FIXTURE_DIR, FIXTURES)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.record", description=__doc__)
    parser.add_argument("--only", action="append", default=[], help="file name to record")
    parser.add_argument("--workdir", type=Path, help="keep configs and logs here")
    args = parser.parse_args(argv)
    # A plain SIGTERM would skip the context managers that delete the namespaces.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="medsentry-record-"))
    try:
        run(set(args.only), workdir)
    except RecordError as exc:
        print(f"error: {exc} (configs and logs kept in {workdir})", file=sys.stderr)
        return 2
    if not args.workdir:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
