"""See and check what was extracted: a static review site, a dashboard, the stats, the eval report as a page."""

from .load import iter_records, load_records
from .site import build_site
from .stats import Stats, compute_stats, print_stats

__all__ = ["Stats", "build_site", "compute_stats", "iter_records", "load_records", "print_stats"]
