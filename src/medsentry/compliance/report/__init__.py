"""Compliance reports: self-contained HTML with inline SVG charts, PDF, and evidence packages."""
