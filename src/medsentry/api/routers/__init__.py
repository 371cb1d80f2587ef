"""REST API routers, one per resource; all under ``/api/v1``."""

API_PREFIX = "/api/v1"
