"""The wheel carries what the package reads at run time, and an installed copy finds it."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out)], check=True)
    return next(out.glob("imr_extract-*.whl"))


def test_wheel_contains_examples_prompts_and_types(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"extractor/examples/CM16-0230548.pdf", "extractor/prompts/README.md", "extractor/py.typed",
            "extractor/parse/data/services.csv", "extractor/review/templates/letter.html.j2",
            "extractor/review/static/review.js"} <= names
    assert any(n.startswith("imr_extract-") and n.endswith("entry_points.txt") for n in names)


def test_installed_copy_reads_its_own_files(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True)
    code = ("import extractor, extractor.resources as r; "
            f"assert str(r.examples_dir()).startswith({str(site)!r}), r.examples_dir(); "
            f"assert str(r.prompts_dir()).startswith({str(site)!r}), r.prompts_dir(); "
            "rec = list(extractor.extract_many(sorted(r.examples_dir().glob('*.pdf')))); "
            "print(sum(len(x.items) for x in rec)); "
            "from extractor.review.site import environment; environment().get_template('index.html.j2')")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6"
