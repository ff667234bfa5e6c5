"""The readable publication: report.html (and one per language of the form) and one CSV per table,
from the protected aggregates only."""

from .page import BILINGUAL, arrivals_csv, render, render_csvs, report_files, write_csvs, write_report

__all__ = ["BILINGUAL", "arrivals_csv", "render", "render_csvs", "report_files", "write_csvs", "write_report"]
