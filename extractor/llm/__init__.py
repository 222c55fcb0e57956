"""The model step of the ``llm`` and ``hybrid`` backends, against any OpenAI-compatible endpoint.

Modules, in the order a letter meets them: ``prompt`` (versioned templates), ``budget`` (what fits
the model's context), ``schema`` (what the model returns), ``cache`` (answers on disk), ``client``
(endpoint, structured-output mode, bounded answers), ``retry`` (transport retries), ``check`` (every
model value against the letter and the parser), ``ground`` (spans for verbatim values),
``backends`` (one letter -> record), ``usage`` (tokens and cost); ``local`` starts a local server.
Many letters at once: ``extractor.run.stream``.
"""

from .cache import clear as clear_cache
from .cache import stats as cache_stats
from .prompt import PROMPT_VERSION
from .usage import RunSummary, summarise

__all__ = ["PROMPT_VERSION", "RunSummary", "cache_stats", "clear_cache", "summarise"]
