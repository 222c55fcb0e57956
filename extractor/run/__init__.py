"""Running many letters: ``stream`` puts them through the model with bounded concurrency and memory,
``shards`` spreads a batch over worker processes. Both give one record per letter, in input order."""
