"""protect layer."""
