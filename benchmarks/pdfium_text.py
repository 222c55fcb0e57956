"""The baseline the offline backend is measured against: only pull the text out of PDFs with pypdfium2.

    python benchmarks/pdfium_text.py FILE_OR_FOLDER...
"""

from __future__ import annotations

import sys
from pathlib import Path

import pypdfium2 as pdfium


def main() -> None:
    chars = 0
    for given in map(Path, sys.argv[1:]):
        for path in sorted(given.glob("*.pdf")) if given.is_dir() else [given]:
            pdf = pdfium.PdfDocument(path)
            for page in pdf:
                textpage = page.get_textpage()
                chars += len(textpage.get_text_range())
                textpage.close()
                page.close()
            pdf.close()
    print(chars)


if __name__ == "__main__":
    main()
