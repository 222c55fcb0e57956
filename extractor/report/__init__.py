"""``imr-extract report``: the tables researchers publish (DWC's annual IMR report, CWCI's studies), each figure
leading to the items behind it and each item to its letter's review page."""

from .build import build_report

__all__ = ["build_report"]
