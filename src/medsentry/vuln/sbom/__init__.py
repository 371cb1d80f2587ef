"""SBOM readers (CycloneDX, SPDX) and the SBOM quality report."""
