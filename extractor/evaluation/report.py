"""Printing an eval report as tables for a person (the JSON report is for machines)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .scoring import EvalReport

_HEADLINE = ("item_recall", "item_precision", "decision_accuracy", "field_accuracy")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value is None else str(value)


def print_calibration(report: EvalReport, console: Console) -> None:
    """The reliability table (confidence bins: count, mean confidence, accuracy), the ECE and the flags' review
    recall, beside the field accuracy above."""
    calibration = report.calibration
    if not calibration.get("bins"):
        return
    table = Table(title=f"Calibration (expected calibration error {_fmt(calibration['ece'])})", title_justify="left")
    for name in ("confidence", "fields", "mean confidence", "accuracy"):
        table.add_column(name, justify="right")
    for b in calibration["bins"]:
        table.add_row(b["bin"], str(b["count"]), _fmt(b["mean_confidence"]), _fmt(b["accuracy"]))
    console.print(table)
    review = calibration["review"]
    console.print(
        f"Review flags: wrong fields flagged {review['wrong_fields_flagged']}/{review['wrong_fields']} "
        f"({_fmt(review['field_recall'])}), wrong items flagged {review['wrong_items_flagged']}/{review['wrong_items']} "
        f"({_fmt(review['item_recall'])}), right items flagged {review['right_items_flagged']}/{review['right_items']} "
        f"({_fmt(review['right_items_flagged_share'])})", highlight=False)


def print_report(report: EvalReport, console: Console, *, show_missed: int = 6) -> None:
    """Headline figures per layout, then every field with the documents that missed it."""
    head = Table(title="Eval summary", title_justify="left")
    head.add_column("figure")
    groups = [("all", report.summary)] + list(report.layouts.items())
    for name, _ in groups:
        head.add_column(name, justify="right")
    for figure in ("documents", "items", *_HEADLINE, "diagnoses_f1", "reasons_f1", "errors"):
        head.add_row(figure, *(_fmt(figures.get(figure)) for _, figures in groups))
    console.print(head)
    fields = Table(title="Fields", title_justify="left")
    fields.add_column("field", no_wrap=True)
    fields.add_column("accuracy", justify="right")
    fields.add_column("correct/total", justify="right")
    fields.add_column("missed in")
    for name, f in report.fields.items():
        missed = f["missed_documents"]
        more = f" (+{len(missed) - show_missed})" if len(missed) > show_missed else ""
        fields.add_row(name, _fmt(f["accuracy"]), f"{f['correct']}/{f['total']}", ", ".join(missed[:show_missed]) + more)
    console.print(fields)
    print_calibration(report, console)
    failed = {d: doc["error"] for d, doc in report.documents.items() if doc.get("error")}
    for doc_id, error in failed.items():
        console.print(f"[red]{doc_id}[/red]: {error}")
