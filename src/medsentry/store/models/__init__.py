"""All table models; importing this package registers every table on ``Base.metadata``."""

from medsentry.store.models import (
    auth,  # noqa: F401
    compliance,  # noqa: F401
    core,  # noqa: F401
    detect,  # noqa: F401
    vuln,  # noqa: F401
)
