"""All table models; importing this package registers every table on ``Base.metadata``."""

from medsentry.store.models import (
    core,  # noqa: F401
    vuln,  # noqa: F401
)
