"""Signed software updates: a TUF repository for makers and a device-side updater."""
