"""Advisory importers: CSAF, OSV, CVE JSON 5, NVD, KEV, EPSS."""
