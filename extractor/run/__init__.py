"""Running many letters: ``stream`` puts them through the model with bounded concurrency and memory,
``shards`` spreads a batch over worker processes. Both give one record per letter, in input order."""

WINDOW_PER_SLOT = 4  # letters started ahead of the oldest unfinished one, per concurrency slot (here: no import of the model stack)
