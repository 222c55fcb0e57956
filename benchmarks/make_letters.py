"""Many distinct text letters for batch tests and benchmarks: a seed letter with its case number varied."""

from __future__ import annotations

from pathlib import Path

SEED = Path(__file__).resolve().parent.parent / "evals" / "letters" / "syn-b-01.txt"
SEED_CASE = "CM14-0031872"


def unique_letters(folder: Path, count: int) -> list[Path]:
    """``count`` distinct letters in ``folder`` (spread over subfolders of 1,000), in sorted order."""
    text = SEED.read_text(encoding="utf-8")
    assert SEED_CASE in text
    paths = []
    for n in range(count):
        path = folder / f"{n // 1000:03d}" / f"letter-{n:06d}.txt"
        if n % 1000 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace(SEED_CASE, f"CM14-{n:07d}"), encoding="utf-8")
        paths.append(path)
    return paths
