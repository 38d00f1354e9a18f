"""Reading CSV files for imports: encodings (UTF-8 with or without BOM, GB18030, sniffed), line numbers,
records that cannot be read reported as errors, more cells than the header refused."""
from __future__ import annotations

import codecs
import csv
from typing import Any, BinaryIO, Callable, Iterable, Iterator

from ..errors import ValidationError
from ..i18n import _

ENCODINGS = ("utf-8-sig", "gb18030")
SNIFF_BYTES = 1 << 20  # how much text (from the first line that is not plain ASCII) decides the encoding
FIELD_LIMIT = 1 << 30  # the longest cell the CSV reader accepts (its default, 128 KiB, is less than a note)
SNIFF_TOLERANCE = 0.5  # share of those lines the chosen encoding may fail on (they become rejects)


def _check_encoding(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ValidationError(_("Unknown encoding '%(encoding)s'.", encoding=encoding)) from None
    if "\n,;\"a".encode(name, errors="replace") != b"\n,;\"a":
        raise ValidationError(_("A CSV file in %(encoding)s cannot be read line by line; save it as UTF-8 or GB18030.",
                                encoding=encoding))
    return encoding


def sniff_encoding(path: str) -> str:
    """UTF-8 (with or without BOM) or GB18030, judged on whole lines: from the first line that is
    not plain ASCII, up to :data:`SNIFF_BYTES` of them, so no character is ever cut in two. The
    encoding that decodes the most of those lines wins (UTF-8 on a tie); lines it cannot decode
    become rejected rows later. When neither decodes most of them the file is refused."""
    sample: list[bytes] = []
    size = 0
    with open(path, "rb") as fh:
        for raw in fh:
            if not sample and raw.isascii():
                continue
            sample.append(raw)
            size += len(raw)
            if size >= SNIFF_BYTES:
                break
    if not sample:
        return ENCODINGS[0]  # plain ASCII reads the same in both

    counted: dict[str, int] = {}
    whole = b"".join(sample)

    def failures(encoding: str) -> int:
        """The sample's lines ``encoding`` cannot decode: none when the whole sample decodes at once (a line
        break never falls inside a character of either encoding), else counted line by line."""
        if encoding not in counted:
            try:
                whole.decode(encoding)
                counted[encoding] = 0
            except UnicodeDecodeError:
                counted[encoding] = sum(1 for raw in sample if not _decodes(raw, encoding))
        return counted[encoding]

    if failures(ENCODINGS[0]) == 0:
        return ENCODINGS[0]  # the preferred one reads every line: the other cannot do better
    best = min(ENCODINGS, key=lambda enc: (failures(enc), ENCODINGS.index(enc)))
    if failures(best) > SNIFF_TOLERANCE * len(sample):
        raise ValidationError(_("The file is neither UTF-8 nor GB18030; give --encoding."))
    return best


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def open_csv(path: str, encoding: str | None = None) -> tuple[BinaryIO, str]:
    """Open a CSV file for :func:`read_csv`: the given encoding, or UTF-8 (with or without BOM),
    else GB18030, as :func:`sniff_encoding` decides. The file is read as bytes, line by line."""
    used = _check_encoding(encoding) if encoding else sniff_encoding(path)
    return open(path, "rb"), used


def _decoded_lines(fh: Iterable[bytes], encoding: str, bad: dict[int, int]) -> Iterator[str]:
    """Each physical line decoded on its own; an undecodable one is noted in ``bad`` (line number ->
    byte offset) and decoded with replacement characters, so the CSV reader stays in step."""
    codec = codecs.lookup(encoding).name
    utf8 = codec in ("utf-8", "utf-8-sig")
    for number, raw in enumerate(fh, start=1):
        if number == 1 and utf8 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            yield raw.decode("utf-8" if utf8 else codec)
        except UnicodeDecodeError as exc:
            bad[number] = exc.start + 1
            yield raw.decode("utf-8" if utf8 else codec, errors="replace")


def _undecodable(line: int, offset: int, encoding: str) -> ValidationError:
    message = _("Line %(line)s is not valid %(encoding)s (byte %(byte)s of the line); fix it or give --encoding.",
                line=line, encoding=encoding, byte=offset)
    return ValidationError(message, errors={"row": [message]})


def plain_row(row: dict[Any, Any]) -> dict[str, str]:
    """CSV cells by trimmed column name, values trimmed; more cells than the header is an error."""
    if None in row:
        raise ValidationError(_("The row has more cells than the header."), errors={"row": [_("Too many cells.")]})
    return {k.strip(): (v or "").strip() for k, v in row.items() if k and k.strip()}


def read_csv(fh: Iterable[bytes], encoding: str = "utf-8",
             convert: Callable[[dict[Any, Any]], dict[str, Any]] | None = None
             ) -> Iterator[tuple[int, dict[str, Any] | Exception]]:
    """Yield ``(line number, row dict)`` for each record of a CSV file opened by :func:`open_csv`,
    or ``(line number, error)`` for a record that cannot be read (undecodable bytes, broken
    quoting, more cells than the header): every record comes out as one or the other. The line
    number is the record's first physical line. ``convert`` turns the cells into the row dict
    (default: :func:`plain_row`, the trimmed cells)."""
    convert = convert or plain_row
    bad: dict[int, int] = {}
    if csv.field_size_limit() < FIELD_LIMIT:  # a long note the export wrote must read back
        csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(_decoded_lines(fh, encoding, bad))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ValidationError(_("The header line cannot be read: %(error)s", error=str(exc))) from None
    if bad:
        raise _undecodable(min(bad), bad[min(bad)], encoding)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, ValidationError(_("Line %(line)s cannot be read as CSV: %(error)s", line=start, error=str(exc)),
                                         errors={"row": [str(exc)]})
            start = reader.line_num + 1
            continue
        first, start = start, reader.line_num + 1
        if not cells:  # a blank line is no record
            continue
        broken = [n for n in range(first, reader.line_num + 1) if n in bad] if bad else None  # (rare: asked only then)
        if broken:
            yield first, _undecodable(broken[0], bad[broken[0]], encoding)
            continue
        row: dict[Any, Any] = dict(zip(header, cells, strict=False))  # a short or long row: handled below
        if len(cells) > len(header):
            row[None] = cells[len(header):]
        for name in header[len(cells):]:
            row[name] = None
        try:
            yield first, convert(row)
        except ValidationError as exc:
            yield first, exc
