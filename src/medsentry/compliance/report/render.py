"""Turning report data into one self-contained HTML file and a PDF (WeasyPrint)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from medsentry.compliance.evaluators import Status
from medsentry.compliance.report import charts
from medsentry.compliance.report.data import MAX_ROWS, ReportData
from medsentry.errors import MedSentryError

TEMPLATES = Path(__file__).with_name("templates")


class ReportError(MedSentryError):
    """The report could not be rendered."""


def _when(ts: float | None) -> str:
    if ts is None:
        return "n/a"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _catalogue_status(statuses: set[str]) -> str:
    if statuses == {"proposed"}:
        return "proposed, not in force"
    if statuses <= {"guidance", "voluntary", "standard"}:
        return "guidance / voluntary"
    if "final" in statuses:
        return "in force"
    return ", ".join(sorted(statuses))


def render_html(data: ReportData) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["charts"] = _Charts()
    template = env.get_template("report.html.j2")
    by_catalogue = data.assessment.by_catalogue()
    catalogue_rows = [
        (
            c.short_title,
            {s.value: sum(r.status is s for r in by_catalogue.get(c.id, [])) for s in Status},
        )
        for c in data.catalogues
    ]
    html: str = template.render(
        d=data,
        css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        when=_when,
        score_label=f"{data.assessment.score():.0f}%",
        status_label=charts.STATUS_LABELS,
        catalogue_rows=catalogue_rows,
        catalogue_by_id={c.id: c for c in data.catalogues},
        catalogue_status={
            c.id: _catalogue_status({x.status for x in c.controls}) for c in data.catalogues
        },
        type_rows=[(t.replace("_", " "), float(n)) for t, n in data.devices_by_type.items()],
        state_rows=[(s.replace("_", " "), float(n)) for s, n in data.findings_by_state.items()],
        kev_open=sum(
            1
            for v in data.vulnerabilities
            if v.kev and v.state in ("affected", "under_investigation")
        ),
        limit=MAX_ROWS,
    )
    return html


class _Charts:
    """Chart functions as template globals; their SVG is trusted markup."""

    def __getattr__(self, name: str) -> object:
        from markupsafe import Markup

        fn = getattr(charts, name)

        def wrapped(*args: object, **kwargs: object) -> Markup:
            return Markup(fn(*args, **kwargs))

        return wrapped


def write_pdf(html: str, path: Path) -> Path:
    """Render ``html`` to a PDF at ``path`` with WeasyPrint."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # missing Pango/cairo libraries raise OSError
        raise ReportError(
            f"WeasyPrint cannot load ({exc}); install its system libraries "
            "(Debian: libpango-1.0-0 libpangoft2-1.0-0) or use --format html"
        ) from exc
    try:
        HTML(string=html, base_url=str(TEMPLATES)).write_pdf(path)
    except Exception as exc:  # WeasyPrint raises many kinds; report one clear error
        raise ReportError(f"PDF rendering failed: {exc}") from exc
    return path
