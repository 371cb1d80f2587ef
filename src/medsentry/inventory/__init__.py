"""inventory layer."""
