"""vuln layer."""
