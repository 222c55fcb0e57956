"""The eval harness: align predicted items with hand-labelled gold ones, score every field, report."""

from .scoring import EvalReport, evaluate, find_letter, load_gold, score

__all__ = ["EvalReport", "evaluate", "find_letter", "load_gold", "score"]
