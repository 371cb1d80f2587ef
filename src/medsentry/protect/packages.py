"""Components declared by package databases and release files inside an image.

dpkg ``status``, opkg ``status`` and ``*.control`` files, the ``control`` file of a
.deb/.ipk, and ``os-release`` / ``openwrt_release``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from packageurl import PackageURL

from medsentry.protect.components import Component, Evidence

_MAX_DB_BYTES = 64 * 1024 * 1024

_DPKG_STATUS = re.compile(r"(?:^|/)var/lib/dpkg/status$")
_OPKG_STATUS = re.compile(r"(?:^|/)(?:usr/lib|var/lib|lib)/opkg/status$")
_OPKG_CONTROL = re.compile(r"(?:^|/)(?:usr/lib|var/lib|lib)/opkg/info/[^/]+\.control$")
_PACKAGE_CONTROL = re.compile(r"control\.tar(?:\.\w+)?!/(?:\./)?control$")
_OS_RELEASE = re.compile(r"(?:^|/)(?:etc|usr/lib)/os-release$")
_OPENWRT_RELEASE = re.compile(r"(?:^|/)etc/openwrt_release$")


def is_package_database(location: str) -> bool:
    """True for the files :func:`read_packages` understands."""
    return any(
        pattern.search(location)
        for pattern in (
            _DPKG_STATUS,
            _OPKG_STATUS,
            _OPKG_CONTROL,
            _PACKAGE_CONTROL,
            _OS_RELEASE,
            _OPENWRT_RELEASE,
        )
    )


def read_packages(location: str, data: bytes) -> list[Component]:
    """Components declared by one package database or release file."""
    if len(data) > _MAX_DB_BYTES:
        return []
    text = data.decode("utf-8", "replace")
    if _OS_RELEASE.search(location):
        return _release(location, _shell_vars(text), "ID", "VERSION_ID", "os-release")
    if _OPENWRT_RELEASE.search(location):
        return _release(location, _shell_vars(text), "DISTRIB_ID", "DISTRIB_RELEASE", "openwrt")
    if _DPKG_STATUS.search(location):
        manager = "dpkg"
    elif _PACKAGE_CONTROL.search(location):
        outer = location.split("!", 1)[0].lower()
        manager = "opkg" if outer.endswith(".ipk") else "dpkg"
    else:
        manager = "opkg"
    installed_only = not _PACKAGE_CONTROL.search(location) and not _OPKG_CONTROL.search(location)
    return [
        _package(location, stanza, manager)
        for stanza in _stanzas(text)
        if stanza.get("Package") and stanza.get("Version")
        if not installed_only or "installed" in stanza.get("Status", "installed").split()
    ]


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    """RFC 822-style paragraphs as used by dpkg and opkg."""
    current: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                yield current
            current, last = {}, ""
        elif line[0] in " \t":
            if last:
                current[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            current[last] = value.strip()
    if current:
        yield current


def _package(location: str, stanza: dict[str, str], manager: str) -> Component:
    name = stanza["Package"]
    version = stanza["Version"]
    arch = stanza.get("Architecture")
    qualifiers = {"arch": arch} if arch else None
    if manager == "dpkg":
        purl = PackageURL("deb", "debian", name, version, qualifiers).to_string()
    else:
        purl = PackageURL("generic", "openwrt", name, version, qualifiers).to_string()
    properties = {"medsentry:package_manager": manager}
    source = stanza.get("Source")
    if source:
        properties["medsentry:source_package"] = source.split()[0]
    return Component(
        name=name,
        version=version,
        type="application",
        supplier=stanza.get("Maintainer"),
        purl=purl,
        description=stanza.get("Description", "").split("\n", 1)[0],
        evidence=[Evidence(name, version, location, "manifest-analysis", 1.0, f"{manager} {name}")],
        properties=properties,
    )


def _shell_vars(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or not key.strip().isidentifier():
            continue
        try:
            parts = shlex.split(raw, comments=True)
        except ValueError:
            parts = [raw.strip().strip("'\"")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def _release(
    location: str, values: dict[str, str], id_key: str, version_key: str, label: str
) -> list[Component]:
    name = values.get(id_key)
    if not name:
        return []
    version = values.get(version_key) or None
    return [
        Component(
            name=name,
            version=version,
            type="operating-system",
            cpe=values.get("CPE_NAME") or None,
            description=values.get("PRETTY_NAME") or values.get("DISTRIB_DESCRIPTION", ""),
            evidence=[
                Evidence(name, version, location, "manifest-analysis", 1.0, f"{label} {id_key}")
            ],
        )
    ]
