"""The model-backed backends (``llm``, ``hybrid``) against any OpenAI-compatible endpoint.

Modules, in the order a letter meets them: ``prompt`` (versioned templates), ``schema`` (what the
model returns), ``cache`` (answers on disk), ``client`` (endpoint, rate limit, structured call),
``retry`` (transport retries), ``ground`` (spans for verbatim values), ``backends`` (one letter ->
record), ``batch`` (many letters, bounded concurrency), ``usage`` (tokens and cost).
"""

from .batch import extract_one, extract_paths, iter_records, stream_records
from .cache import clear as clear_cache
from .cache import stats as cache_stats
from .prompt import PROMPT_VERSION
from .usage import RunSummary, summarise

__all__ = [
    "PROMPT_VERSION",
    "RunSummary",
    "cache_stats",
    "clear_cache",
    "extract_one",
    "extract_paths",
    "iter_records",
    "stream_records",
    "summarise",
]
