"""Trust in the parser's reading: self-checks (``checks``) raise flags, and a calibrated table
(``confidence``) turns them into a confidence per field. ``verify`` applies both to a record."""

from .checks import LetterView, item_flags, letter_flags
from .confidence import Calibration, calibration
from .record import verify

__all__ = ["Calibration", "LetterView", "calibration", "item_flags", "letter_flags", "verify"]
