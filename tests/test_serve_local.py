"""``imr-extract serve-local`` as a user runs it: the real llama-cpp-python server with the bundled
SmolLM2 on loopback, the settings to use printed, and Ctrl-C stopping it with nothing left behind."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time

import httpx2
import pytest

from extractor.llm.local import free_port

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"),
                                reason="the local extra is not installed: pip install '.[local]'")


def test_serve_local_prints_the_settings_serves_and_stops_on_ctrl_c() -> None:
    port = free_port()
    cli = subprocess.Popen([sys.executable, "-c", "from extractor.cli import main; main()", "serve-local",
                            "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        lines = [cli.stdout.readline() for _ in range(5)]  # type: ignore[union-attr]
        assert f"export IMR_BASE_URL=http://127.0.0.1:{port}/v1\n" in lines
        assert "export IMR_MODE=tools\n" in lines and "export IMR_MAX_CONCURRENCY=1\n" in lines
        models = httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == ["smollm2-135m"]
        os.killpg(cli.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        assert cli.wait(30) == 0
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(httpx2.HTTPError):
        httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
    leftover = subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True, text=True).stdout.split()
    assert leftover == []


def test_a_missing_model_file_is_one_clear_line(tmp_path: object) -> None:
    done = subprocess.run([sys.executable, "-c", "from extractor.cli import main; main()", "serve-local", "--model",
                           "/nonexistent/model.gguf"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "/nonexistent/model.gguf: no such model file" in done.stderr
    assert "Traceback" not in done.stderr
