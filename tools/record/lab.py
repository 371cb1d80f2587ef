"""A private L2 network of network namespaces joined by a Linux bridge.

Each host of the plan gets its own namespace and a veth pair whose other end sits on a
bridge inside a separate "switch" namespace, so nothing is ever attached to the machine's
real interfaces and no traffic can leave it. Offloads are switched off on every veth end so
the capture shows wire-sized segments with real checksums, as a SPAN port would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tools.record.plan import BRIDGE, DOMAIN, GATEWAY, HOSTS, PREFIX_LEN, SWITCH_NS, Host

from medsentry.errors import MedSentryError

REPO_ROOT = Path(__file__).resolve().parents[2]
NETNS_ETC = Path("/etc/netns")
REQUIRED_TOOLS = ("ip", "ethtool", "tcpdump", "mosquitto", "mosquitto_passwd", "dnsmasq", "udhcpc")
OFFLOADS = ("tso", "gso", "gro", "tx", "rx")
ACTOR_TIMEOUT = 120.0  # seconds one simulated device may take for its whole exchange


class RecordError(MedSentryError):
    """The recording lab could not be built or a simulated device failed."""


def sh(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run an administrative command, failing loudly with its stderr."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RecordError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise RecordError("recording needs root (network namespaces); run it with sudo")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise RecordError(
            f"missing programs: {', '.join(missing)}; install them with "
            "`apt-get install iproute2 ethtool tcpdump mosquitto dnsmasq-base udhcpc`"
        )


@dataclass
class Proc:
    """A process started inside a namespace, with its output kept in a log file."""

    name: str
    popen: subprocess.Popen[str]
    log_path: Path
    drain: threading.Thread | None = None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)
        if self.drain is not None:
            self.drain.join(timeout)


def _copy_lines(proc: Proc, ready: str, seen: threading.Event) -> None:
    """Copy a service's stdout to its log, signalling when its ready line appears."""
    assert proc.popen.stdout is not None
    with proc.log_path.open("a") as log:
        for line in proc.popen.stdout:
            log.write(line)
            log.flush()
            if ready in line:
                seen.set()


@dataclass
class Lab:
    """The namespaces, bridge and processes of one recording session."""

    workdir: Path
    hosts: tuple[Host, ...] = HOSTS
    procs: list[Proc] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- topology ---------------------------------------------------------------------

    def __enter__(self) -> Lab:
        check_prerequisites()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.teardown()  # leftovers of an interrupted run
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.teardown()

    def _build(self) -> None:
        sh(["ip", "netns", "add", SWITCH_NS])
        self._no_ipv6(SWITCH_NS)
        sh(["ip", "-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge"])
        sh(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "type", "bridge", "stp_state", "0"])
        sh(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "type", "bridge", "mcast_snooping", "0"])
        sh(["ip", "-n", SWITCH_NS, "link", "set", BRIDGE, "up"])
        for host in self.hosts:
            self._add_host(host)

    @staticmethod
    def _no_ipv6(netns: str) -> None:
        # IPv4-only ward network: no link-local IPv6 chatter in the recordings.
        for key in ("all", "default"):
            setting = f"net.ipv6.conf.{key}.disable_ipv6=1"
            sh(["ip", "netns", "exec", netns, "sysctl", "-qw", setting])

    def _add_host(self, host: Host) -> None:
        ns = host.netns
        sh(["ip", "netns", "add", ns])
        self._no_ipv6(ns)
        veth_pair = ["type", "veth", "peer", "name", "eth0", "netns", ns]
        sh(["ip", "-n", SWITCH_NS, "link", "add", host.veth, *veth_pair])
        sh(["ip", "-n", ns, "link", "set", "eth0", "address", host.mac])
        sh(["ip", "netns", "exec", SWITCH_NS, "ethtool", "-K", host.veth, *_offloads_off()])
        sh(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", *_offloads_off()])
        sh(["ip", "-n", SWITCH_NS, "link", "set", host.veth, "master", BRIDGE, "up"])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        etc = NETNS_ETC / ns
        etc.mkdir(parents=True, exist_ok=True)
        # `ip netns exec` bind-mounts this over /etc/resolv.conf inside the namespace.
        resolv = etc / "resolv.conf"
        if host.dhcp:
            resolv.write_text("")  # filled in by the DHCP client's script
        else:
            resolv.write_text(f"search {DOMAIN}\nnameserver {GATEWAY.ip}\n")
            self.configure_address(host)

    @staticmethod
    def configure_address(host: Host) -> None:
        sh(["ip", "-n", host.netns, "addr", "replace", f"{host.ip}/{PREFIX_LEN}", "dev", "eth0"])
        if host is not GATEWAY:
            sh(["ip", "-n", host.netns, "route", "replace", "default", "via", GATEWAY.ip])

    @staticmethod
    def unconfigure_address(host: Host) -> None:
        sh(["ip", "-n", host.netns, "addr", "flush", "dev", "eth0"])

    def flush_neighbours(self) -> None:
        """Forget ARP entries so each recording shows its own address resolution."""
        for host in self.hosts:
            sh(["ip", "-n", host.netns, "neigh", "flush", "all"], check=False)

    def teardown(self) -> None:
        with self._lock:
            procs, self.procs = self.procs, []
        for proc in reversed(procs):
            proc.stop()
        existing = set(sh(["ip", "netns", "list"], check=False).stdout.split())
        for ns in [h.netns for h in self.hosts] + [SWITCH_NS]:
            if ns in existing:
                self._kill_namespace_processes(ns)
                sh(["ip", "netns", "del", ns], check=False)
            etc = NETNS_ETC / ns
            if etc.is_dir():
                shutil.rmtree(etc)
        if NETNS_ETC.is_dir() and not any(NETNS_ETC.iterdir()):
            NETNS_ETC.rmdir()

    @staticmethod
    def _kill_namespace_processes(ns: str) -> None:
        # Only processes inside our own namespaces: they were started by this recorder.
        pids = sh(["ip", "netns", "pids", ns], check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)

    # -- processes --------------------------------------------------------------------

    def spawn(self, host: Host, argv: Sequence[str], name: str, merge_stderr: bool = False) -> Proc:
        """Start a program inside the host's namespace; stdout is a pipe, stderr a log."""
        log_path = self.workdir / f"{name}.log"
        with log_path.open("a") as log:
            popen = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, *argv],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT if merge_stderr else log,
                text=True,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log_path)
        with self._lock:
            self.procs.append(proc)
        return proc

    def start_service(
        self,
        host: Host,
        argv: Sequence[str],
        name: str,
        ready: str,
        timeout: float = 20.0,
        merge_stderr: bool = False,
    ) -> Proc:
        """Start a long-running program and wait until it prints its ready line on stdout."""
        proc = self.spawn(host, argv, name, merge_stderr)
        seen = threading.Event()
        proc.drain = threading.Thread(
            target=_copy_lines, args=(proc, ready, seen), name=f"drain-{name}", daemon=True
        )
        proc.drain.start()
        deadline = time.monotonic() + timeout
        while not seen.wait(0.05):
            if proc.popen.poll() is not None:
                raise RecordError(f"{name} exited before it was ready; see {proc.log_path}")
            if time.monotonic() > deadline:
                raise RecordError(f"{name} not ready after {timeout:.0f}s; see {proc.log_path}")
        return proc

    def run(self, host: Host, argv: Sequence[str], name: str, timeout: float = 60.0) -> str:
        """Run a program to completion inside the host's namespace; returns its stdout."""
        proc = self.spawn(host, argv, name)
        try:
            out, _ = proc.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.stop(signal.SIGKILL)
            raise RecordError(
                f"{name} did not finish in {timeout:.0f}s; see {proc.log_path}"
            ) from exc
        finally:
            self._forget(proc)
        with proc.log_path.open("a") as log:
            log.write(out)
        if proc.popen.returncode != 0:
            raise RecordError(f"{name} failed ({proc.popen.returncode}); see {proc.log_path}")
        return out

    @staticmethod
    def actor_argv(actor: str, **params: object) -> list[str]:
        return [sys.executable, "-m", "tools.record.actor", actor, json.dumps(params)]

    def start_actor(self, host: Host, actor: str, **params: object) -> Proc:
        argv = self.actor_argv(actor, **params)
        return self.start_service(host, argv, f"{host.name}-{actor}", ready="READY")

    def run_actor(self, host: Host, actor: str, **params: object) -> str:
        argv = self.actor_argv(actor, **params)
        return self.run(host, argv, f"{host.name}-{actor}", ACTOR_TIMEOUT)

    def wait(self, proc: Proc, timeout: float = 60.0) -> None:
        """Wait for a started actor to finish on its own, and check it succeeded."""
        try:
            proc.popen.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise RecordError(f"{proc.name} did not finish; see {proc.log_path}") from exc
        finally:
            proc.stop()
            self._forget(proc)
        if proc.popen.returncode != 0:
            raise RecordError(f"{proc.name} failed ({proc.popen.returncode}); see {proc.log_path}")

    def stop(self, proc: Proc) -> None:
        proc.stop()
        self._forget(proc)

    def _forget(self, proc: Proc) -> None:
        with self._lock:
            if proc in self.procs:
                self.procs.remove(proc)


def _offloads_off() -> list[str]:
    args: list[str] = []
    for feature in OFFLOADS:
        args += [feature, "off"]
    return args
