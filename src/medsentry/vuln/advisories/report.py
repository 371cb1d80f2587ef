"""Validation reports every advisory importer produces alongside its records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a document.

    ``test`` names the check (a CSAF test number such as ``6.1.31`` or ``schema``);
    ``severity`` is ``error`` (the document breaks its format's rules), ``warning`` (usable,
    but matching may be less precise) or ``info``.
    """

    test: str
    message: str
    path: str = ""
    severity: str = "error"


@dataclass
class ValidationReport:
    source: str
    format: str
    document_id: str | None = None
    issues: list[Issue] = field(default_factory=list)
    tests_run: list[str] = field(default_factory=list)
    tests_skipped: dict[str, str] = field(default_factory=dict)  # test → why not run

    def add(self, test: str, message: str, path: str = "", severity: str = "error") -> None:
        self.issues.append(Issue(test, message, path, severity))

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def valid(self) -> bool:
        return not self.errors

    def failed_tests(self) -> set[str]:
        return {i.test for i in self.errors}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "format": self.format,
            "document_id": self.document_id,
            "valid": self.valid,
            "tests_run": list(self.tests_run),
            "tests_skipped": dict(self.tests_skipped),
            "issues": [
                {"test": i.test, "severity": i.severity, "path": i.path, "message": i.message}
                for i in self.issues
            ],
        }
