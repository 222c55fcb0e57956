"""The model step at scale, out of process: ``prepare`` writes the exact requests of the online path
as OpenAI Batch lines, OpenAI's Batch API (``api``) or ``vllm run-batch`` answers them, and ``collect``
runs the same check / ground / record steps on the answers (``results``)."""
