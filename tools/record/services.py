"""Real daemons of the ward network and their generated configuration.

dnsmasq on the gateway answers DHCP and DNS, busybox udhcpc is the DHCP client of the
devices that get their address dynamically, mosquitto is the MQTT broker and openssl
makes the EHR's self-signed certificate.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from tools.record.lab import Lab, Proc, RecordError, sh
from tools.record.mqtt_peers import broker_config
from tools.record.plan import (
    BROKER,
    DOMAIN,
    GATEWAY,
    HOSTS,
    MQTT_PASSWORD,
    MQTT_USER,
    Host,
)

# Static name records served by dnsmasq (DHCP clients are added by dnsmasq itself).
EXTRA_NAMES = {"fhir": "ehr"}

# The udhcpc event script: configure the lease like a device would, and write the
# resolver settings into this namespace's own resolv.conf (never the machine's).
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip -4 addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip -4 route replace default via "${router%% *}" dev "$interface"
    {
      [ -n "$domain" ] && echo "search $domain"
      for server in $dns; do echo "nameserver $server"; done
    } > "$RESOLV_OUT"
    ;;
esac
exit 0
"""
LEASE_LINE = re.compile(r"lease of (\d+\.\d+\.\d+\.\d+) obtained")


def _host_records() -> list[str]:
    records = []
    for host in HOSTS:
        if not host.dhcp:
            records.append(f"--host-record={host.fqdn},{host.name},{host.ip}")
    for alias, target in EXTRA_NAMES.items():
        ip = next(h.ip for h in HOSTS if h.name == target)
        records.append(f"--host-record={alias}.{DOMAIN},{ip}")
    return records


def dnsmasq_argv(workdir: Path) -> list[str]:
    argv = [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-hosts",
        "--no-resolv",
        "--user=root",
        "--pid-file",
        "--interface=eth0",
        "--bind-interfaces",
        f"--domain={DOMAIN}",
        f"--local=/{DOMAIN}/",
        "--dhcp-authoritative",
        "--dhcp-range=10.77.0.100,10.77.0.199,255.255.255.0,12h",
        f"--dhcp-leasefile={workdir / 'dnsmasq.leases'}",
        f"--dhcp-option=option:router,{GATEWAY.ip}",
        f"--dhcp-option=option:dns-server,{GATEWAY.ip}",
        f"--dhcp-option=option:ntp-server,{GATEWAY.ip}",
        f"--dhcp-option=option:domain-name,{DOMAIN}",
        "--log-facility=-",
        "--log-dhcp",
        "--log-queries",
    ]
    argv += [f"--dhcp-host={h.mac},{h.ip},{h.name}" for h in HOSTS if h.dhcp]
    return argv + _host_records()


def start_dnsmasq(lab: Lab) -> Proc:
    argv = dnsmasq_argv(lab.workdir)
    return lab.start_service(GATEWAY, argv, "gw-dnsmasq", ready="started", merge_stderr=True)


def write_udhcpc_script(workdir: Path) -> Path:
    path = workdir / "udhcpc.script"
    path.write_text(UDHCPC_SCRIPT)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def udhcpc_argv(host: Host, script: Path) -> list[str]:
    """A device's DHCP client: vendor class (60), hostname (12), requested options (55).

    udhcpc sends the MAC as client identifier (61) unless told otherwise; a device built
    for RFC 8520 also announces its MUD URL (161).
    """
    argv = ["env", f"RESOLV_OUT=/etc/netns/{host.netns}/resolv.conf", "udhcpc", "-i", "eth0"]
    argv += ["-f", "-q", "-n", "-t", "4", "-T", "1", "-s", str(script)]
    argv += ["-V", host.dhcp_vendor_class, "-x", f"hostname:{host.dhcp_hostname}"]
    if host.dhcp_requests:
        argv.append("-o")  # request exactly this device's list, not udhcpc's default
        for option in host.dhcp_requests:
            argv += ["-O", str(option)]
    if host.mud_url:
        argv += ["-x", f"0xa1:{host.mud_url.encode().hex()}"]
    return argv


def obtain_lease(lab: Lab, host: Host, script: Path) -> None:
    lab.unconfigure_address(host)
    out = lab.run(host, udhcpc_argv(host, script), f"{host.name}-udhcpc", timeout=30)
    log = lab.workdir / f"{host.name}-udhcpc.log"
    text = out + (log.read_text() if log.exists() else "")
    match = LEASE_LINE.search(text)
    if not match or match.group(1) != host.ip:
        raise RecordError(f"{host.name} did not get its planned lease {host.ip}; see {log}")


def start_mosquitto(lab: Lab) -> Proc:
    password_file = lab.workdir / "mosquitto.passwd"
    password_file.unlink(missing_ok=True)
    sh(["mosquitto_passwd", "-b", "-c", str(password_file), MQTT_USER, MQTT_PASSWORD])
    config = lab.workdir / "mosquitto.conf"
    config.write_text(broker_config(lab.workdir, password_file))
    argv = ["mosquitto", "-c", str(config)]
    return lab.start_service(BROKER, argv, "mqtt-mosquitto", ready="running", merge_stderr=True)


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the EHR, valid for both names the clients use."""
    cert, key = workdir / "ehr.crt", workdir / "ehr.key"
    argv = ["openssl", "req", "-x509", "-nodes", "-days", "365", "-newkey", "ec"]
    argv += ["-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", str(key), "-out", str(cert)]
    argv += ["-subj", f"/CN=ehr.{DOMAIN}/O=General Hospital Demo/C=ZZ"]
    argv += ["-addext", f"subjectAltName=DNS:ehr.{DOMAIN},DNS:fhir.{DOMAIN}"]
    sh(argv)
    return cert, key
