"""The readable publication: report.html and one CSV per table, from the protected aggregates only."""

from .page import render, render_csvs, write_csvs, write_report

__all__ = ["render", "render_csvs", "write_csvs", "write_report"]
