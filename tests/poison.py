"""Letters made to break a batch: each the smallest file that did, in the field or in a tester's hands."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pypdfium2 as pdfium

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "evals" / "letters" / "syn-b-01.txt"


def pdf_bomb(path: Path, inflated_mb: int = 600) -> Path:
    """A small PDF whose one page's content stream inflates to ``inflated_mb`` MB of drawing operators."""
    chunk = b"0 0 m 1 1 l S\n" * 4096
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(chunk) for _ in range(inflated_mb * 1024 * 1024 // len(chunk))) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def password_pdf(path: Path) -> Path:
    """A PDF that needs a user password: an encryption dictionary PDFium cannot satisfy without one."""
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(612, 792)
    pdf.save(path)
    pdf.close()
    data = path.read_bytes()
    trailer = data.rindex(b"trailer")
    encrypt = (b"5 0 obj\n<< /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32
               + b"> /P -4 >>\nendobj\n")
    data = data[:trailer] + encrypt + data[trailer:].replace(b"<<", b"<< /Encrypt 5 0 R /ID [<00><00>]", 1)
    path.write_bytes(data)
    return path


def poison_letters(folder: Path) -> dict[str, Path]:
    """Each poison of issue 8 in ``folder``, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "utf16_odd_bytes": folder / "bom-odd.txt",
        "bad_name": Path(os.fsdecode(bytes(folder) + b"/caf\xe9-letter.txt")),
        "pdf_bomb": pdf_bomb(folder / "bomb.pdf"),
        "password": password_pdf(folder / "locked.pdf"),
        "fifo": folder / "pipe.txt",
        "dev_zero": folder / "zero.txt",
    }
    made["utf16_odd_bytes"].write_bytes(b"\xff\xfe" + b"A\x00" * 149 + b"B")
    made["bad_name"].write_bytes(SEED.read_bytes())
    os.mkfifo(made["fifo"])
    os.symlink("/dev/zero", made["dev_zero"])
    return made
