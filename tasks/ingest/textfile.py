"""Text files as a stream of UTF-8 blocks cut at line ends, whatever they arrived as.

This is where a file's bytes are made trustworthy before any parser sees them: gzip is unwrapped,
a byte-order mark is honoured (UTF-8 stripped, UTF-16/32 decoded), a declared `encoding` is
transcoded, and under the default UTF-8 every line holding a byte that is not UTF-8 is cut out and
reported on its own, so one bad byte costs its line, never the block (the parsers behind would
otherwise store broken strings or fail the whole block). The check costs one C-speed decode per
block; only a block that fails it is walked line by line.

Files that cannot be read as text at all (not a regular file, an HTML page, UTF-16 without a BOM)
raise `UnusableFile` with what to do.
"""

from __future__ import annotations

import codecs
import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tasks.errors import InputError
from tasks.ingest.rows import BadRow, truncate

__all__ = ["TextBlock", "UnusableFile", "open_regular", "sniff_head", "text_blocks"]

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


class UnusableFile(InputError):
    """One file of a source cannot be read at all; the other files of the run still are."""


@dataclass
class TextBlock:
    data: bytes  # valid UTF-8, whole lines; a line with bad bytes is left empty (its number is kept)
    first_line: int
    bad: list[BadRow] = field(default_factory=list)
    bytes_read: int = 0  # of the file as stored (compressed bytes for gzip), for progress
    final: bool = False


def open_regular(path: Path) -> BinaryIO:
    """Open a file for reading, refusing FIFOs, sockets and devices (opening a FIFO blocks forever)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise UnusableFile(f"{path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UnusableFile(f"{path} is not a regular file (a FIFO, socket or device); ingest reads regular files only")
    return open(path, "rb")


def sniff_head(head: bytes) -> str | None:
    """Why the first bytes of a file say it is not tabular text, or None."""
    start = head.lstrip()[:64].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "is an HTML page, not data (a login or error page behind the URL?); check the address or download the file first"
    if not any(head.startswith(b) for b, _ in _BOMS) and head.count(b"\x00") > len(head) // 4:
        return "looks like UTF-16 without a byte-order mark; set encoding = 'utf-16-le' (or 'utf-16-be') on this source"
    return None


class _Counting:
    """Counts the stored bytes read beneath a gzip reader, for the progress bar."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.n = f, 0

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.n += len(data)
        return data


class _GzipUpToDamage:
    """Reads a gzip stream in small steps, so a damaged or cut-short file still gives every byte before the damage."""

    def __init__(self, f: BinaryIO) -> None:
        self.g, self.error = gzip.GzipFile(fileobj=f), None

    def read(self, size: int) -> bytes:
        if self.error is not None:
            raise self.error
        parts, got = [], 0
        while got < size:
            try:
                part = self.g.read1(min(size - got, 1 << 16))
            except (gzip.BadGzipFile, EOFError, zlib.error) as e:
                self.error = e
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
        if not parts and self.error is not None:
            raise self.error
        return b"".join(parts)


def _cut_bad_utf8(block: bytes, first_line: int) -> tuple[bytes, list[BadRow]]:
    """Empty every line that is not valid UTF-8; report each one with the first offending byte."""
    bad: list[BadRow] = []
    pieces: list[bytes] = []
    pos, line = 0, first_line
    while True:
        try:
            block[pos:].decode("utf-8")
            pieces.append(block[pos:])
            break
        except UnicodeDecodeError as e:
            at = pos + e.start
            start = block.rfind(b"\n", pos, at) + 1
            end = block.find(b"\n", at)
            end = len(block) if end < 0 else end
            line += block.count(b"\n", pos, start)
            raw = block[start:end]
            bad.append(BadRow(line, "invalid_encoding",
                              f"byte 0x{block[at]:02x} at column {at - start + 1} is not UTF-8; if the file uses another "
                              "encoding, set encoding = 'cp1252' (or its name) on this source", truncate(raw)))
            pieces.append(block[pos:start])
            pos = end
    return b"".join(pieces), bad


def text_blocks(path: Path, encoding: str = "utf-8", block_bytes: int = 16 << 20) -> Iterator[TextBlock]:
    """Stream `path` (gzip or not) as UTF-8 blocks of whole lines; memory is bounded by `block_bytes`."""
    with open_regular(path) as raw:
        magic = raw.read(2)
        raw.seek(0)
        counted = _Counting(raw)
        f: BinaryIO = _GzipUpToDamage(counted) if magic == b"\x1f\x8b" else counted  # type: ignore[assignment]
        try:
            yield from _blocks(f, counted, path, encoding, block_bytes)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise UnusableFile(f"{path}: the gzip stream is damaged or cut short ({e}); rows read before the damage are stored") from None


def _blocks(f: BinaryIO, counted: _Counting, path: Path, encoding: str, block_bytes: int) -> Iterator[TextBlock]:
    head = f.read(block_bytes)
    why = sniff_head(head[:4096])
    if why:
        raise UnusableFile(f"{path} {why}")
    codec = codecs.lookup(encoding).name
    for bom, name in _BOMS:
        if head.startswith(bom):
            codec = name if name != "utf-8-sig" else "utf-8"
            head = head[len(bom):] if name == "utf-8-sig" else head
            break
    decoder = None if codec == "utf-8" else codecs.getincrementaldecoder(codec)()
    line, leftover, chunk, done = 1, b"", head, False
    reported = 0
    while not done:
        done = not chunk
        if decoder is not None:
            try:
                chunk = decoder.decode(chunk, final=done).encode("utf-8")
            except UnicodeDecodeError as e:
                raise UnusableFile(f"{path}: cannot be read as {codec} ({e.reason} near line {line}); "
                                   "set encoding on this source to the file's real encoding") from None
        data = leftover + chunk
        cut = len(data) if done else data.rfind(b"\n") + 1
        block, leftover = data[:cut], data[cut:]
        if block or done:
            bad: list[BadRow] = []
            if decoder is None:
                try:
                    block.decode("utf-8")
                except UnicodeDecodeError:
                    block, bad = _cut_bad_utf8(block, line)
            yield TextBlock(block, line, bad, counted.n - reported, final=done)
            reported = counted.n
            line += block.count(b"\n")
        if not done:
            chunk = f.read(block_bytes)
