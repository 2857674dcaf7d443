"""Streaming uploads: hash (SHA-256 and keccak-256) while writing to a staging file, so memory
stays flat for any size; sanitise names; sniff types from bytes; inspect archives without
unpacking them.

The handler writes into a staging folder on the storage's filesystem, so saving into
FileSystemStorage is a rename, not a copy; other storage backends receive a stream."""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import queue
import re
import tarfile
import threading
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import IO

from Crypto.Hash import keccak
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers, StopUpload

CHUNK = 1024 * 1024
SNIFF_BYTES = 4096
# The least content worth validating: fewer non-whitespace bytes are flagged `too_small` (the
# validator node's near_empty check uses the same 16 bytes), which validators see.
MIN_USEFUL_BYTES = 16


def meaningful_bytes(*, head: bytes, size: int) -> int:
    """Non-whitespace bytes of a file whose start is `head` (a longer file counts as useful)."""
    if size > len(head):
        return size
    return len(head.translate(None, b" \t\r\n\x0b\x0c"))


def max_upload_bytes() -> int:
    return int(getattr(settings, "PORTAL_MAX_UPLOAD_BYTES", 2 * 1024**3))


def archive_limits() -> tuple[int, int]:
    return (
        int(getattr(settings, "PORTAL_ARCHIVE_MAX_ENTRIES", 10_000)),
        int(getattr(settings, "PORTAL_ARCHIVE_MAX_UNCOMPRESSED", 8 * 1024**3)),
    )


def archive_budget() -> tuple[int, float]:
    """(compression ratio, seconds): inspecting a compressed archive stops once it has produced
    more than ratio x the compressed bytes read (plus 1 MiB) or taken longer than the seconds."""
    return (
        int(getattr(settings, "PORTAL_ARCHIVE_MAX_RATIO", 100)),
        float(getattr(settings, "PORTAL_ARCHIVE_MAX_SECONDS", 5.0)),
    )


STAGED_GLOB = "up-*.part"


def staging_dir() -> Path:
    path = Path(settings.MEDIA_ROOT) / ".staging"
    path.mkdir(parents=True, exist_ok=True)
    return path


def staging_sweep(*, older_than_seconds: float, now: float | None = None) -> int:
    """Delete staged upload files not written for `older_than_seconds` (left by a crashed or
    killed process: a live upload keeps writing, so its mtime stays fresh). Returns how many."""
    cutoff = (time.time() if now is None else now) - older_than_seconds
    removed = 0
    for path in staging_dir().glob(STAGED_GLOB):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # finished or swept by someone else meanwhile
            continue
    return removed


class HashedUpload(UploadedFile):
    """A staged upload with its digests. temporary_file_path() lets FileSystemStorage move it."""

    file: IO[bytes]  # always the staged temporary file
    size: int

    def __init__(self, name: str, content_type: str, charset: str | None) -> None:
        file = NamedTemporaryFile(dir=staging_dir(), prefix="up-", suffix=".part", delete=False)  # noqa: SIM115
        super().__init__(file, name, content_type, 0, charset)
        self.sha256 = ""
        self.keccak256 = ""
        self.head = b""

    def temporary_file_path(self) -> str:
        return self.file.name

    def discard(self) -> None:
        try:
            self.file.close()
        finally:
            Path(self.file.name).unlink(missing_ok=True)


class _BackgroundKeccak:
    """keccak-256 in its own thread: pycryptodome releases the GIL, so hashing overlaps with
    parsing, SHA-256 and the disk write. A bounded queue keeps memory flat (a few chunks). The
    first chunk is hashed in the caller's thread, and the thread starts only with a second one:
    most uploads are one chunk, and a thread per upload cost more than hashing it."""

    def __init__(self) -> None:
        self._hash = keccak.new(digest_bits=256)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread: threading.Thread | None = None
        self._chunks = 0

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._chunks += 1
        if self._chunks == 1:
            self._hash.update(chunk)  # done before any thread touches the hash
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="upload-keccak", daemon=True)
            self._thread.start()
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class HashingUploadHandler(FileUploadHandler):
    """Takes over every file part: counts bytes against PORTAL_MAX_UPLOAD_BYTES, feeds both hashes
    and the staging file chunk by chunk. Too large: stops reading and marks `too_large`."""

    chunk_size = CHUNK

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = max_upload_bytes()
        self.too_large = False
        self.uploads: list[HashedUpload] = []

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length and content_length > self.limit + 64 * 1024:
            # Refuse before reading: the declared body alone is over the limit.
            self.too_large = True
        return None

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        if self.too_large:
            raise StopUpload(connection_reset=True)
        self.size = 0
        self._sha = hashlib.sha256()
        self._keccak = _BackgroundKeccak()
        self.upload = HashedUpload(self.file_name or "", self.content_type or "", self.charset)
        self.uploads.append(self.upload)
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.size += len(raw_data)
        if self.size > self.limit:
            self.too_large = True
            self.cleanup()
            raise StopUpload(connection_reset=True)
        if len(self.upload.head) < SNIFF_BYTES:
            self.upload.head += raw_data[: SNIFF_BYTES - len(self.upload.head)]
        self._sha.update(raw_data)
        self._keccak.update(raw_data)
        self.upload.file.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> HashedUpload:
        upload = self.upload
        upload.file.flush()
        upload.file.seek(0)
        upload.size = file_size
        upload.sha256 = "0x" + self._sha.hexdigest()
        upload.keccak256 = "0x" + self._keccak.hexdigest()
        return upload

    def upload_interrupted(self) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        if getattr(self, "_keccak", None) is not None:
            self._keccak.close()
        for upload in self.uploads:
            upload.discard()


# --- names -------------------------------------------------------------------------------------

_BIDI = {"\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def sanitise_name(name: str, *, limit: int = 120) -> str:
    """A display-only version of the client's file name: last path component, no control or
    bidirectional characters, no leading dots, at most `limit` characters (extension kept)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if ch not in _BIDI and unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".").strip()
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and len(ext) <= 16 else ""
        name = (stem if dot else name)[: limit - len(ext) - 1] + ("." + ext if ext else "")
    return name or "upload"


def extension(name: str) -> str:
    base = sanitise_name(name).lower()
    for double in (".tar.gz", ".tar.bz2", ".tar.xz"):
        if base.endswith(double):
            return double[1:]
    return base.rpartition(".")[2] if "." in base else ""


# --- type sniffing -----------------------------------------------------------------------------

EXPECTED = {
    "zip": {"zip"},
    "gz": {"gzip"},
    "tgz": {"gzip"},
    "tar.gz": {"gzip"},
    "tar": {"tar"},
    "bz2": {"bzip2"},
    "tar.bz2": {"bzip2"},
    "xz": {"xz"},
    "tar.xz": {"xz"},
    "pdf": {"pdf"},
    "png": {"png"},
    "jpg": {"jpeg"},
    "jpeg": {"jpeg"},
    "gif": {"gif"},
    "json": {"json", "text"},
    "jsonl": {"json", "text"},
    "csv": {"text"},
    "tsv": {"text"},
    "txt": {"text"},
    "md": {"text"},
    "yaml": {"text"},
    "yml": {"text"},
    "py": {"text"},
    "safetensors": {"safetensors"},
    "gguf": {"gguf"},
    "parquet": {"parquet"},
    "npy": {"npy"},
    "pt": {"zip", "pickle"},
    "pth": {"zip", "pickle"},
    "bin": None,
    "onnx": None,
    "h5": {"hdf5"},
}
EXECUTABLE = {"elf", "pe", "php", "html", "shell", "macho"}


def sniff(head: bytes) -> str:
    """The file's type family from its first bytes."""
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head.startswith(b"MZ"):
        return "pe"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        return "macho"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "safetensors"
    lowered = head[:512].lstrip().lower()
    if lowered.startswith(b"<?php") or b"<?php" in head:
        return "php"
    if lowered.startswith((b"<!doctype html", b"<html", b"<script", b"<svg")):
        return "html"
    if head.startswith(b"#!"):
        return "shell"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the sniff boundary; retry without the tail.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return "binary"
    if "\x00" in text:
        return "binary"
    return "json" if text.lstrip()[:1] in ("{", "[") else "text"


def type_flags(*, name: str, declared_type: str, sniffed: str) -> list[str]:
    """Findings for the quorum: bytes contradicting the declared name/type, executable content."""
    flags = []
    expected = EXPECTED.get(extension(name))
    if expected is not None and sniffed not in expected:
        flags.append("type_mismatch")
    declared = (declared_type or "").split(";")[0].strip().lower()
    declared_family = {
        "application/zip": "zip",
        "application/gzip": "gzip",
        "application/pdf": "pdf",
        "image/png": "png",
        "image/jpeg": "jpeg",
        "image/gif": "gif",
        "application/json": "json",
        "text/csv": "text",
        "text/plain": "text",
    }.get(declared)
    contradicts = (
        declared_family and declared_family != sniffed and not (declared_family == "text" and sniffed == "json")
    )
    if contradicts and "type_mismatch" not in flags:
        flags.append("type_mismatch")
    if sniffed in EXECUTABLE:
        flags.append("executable_content")
    return flags


# --- archives ----------------------------------------------------------------------------------


class ArchiveRefused(Exception):
    code = "archive_refused"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ArchiveTooExpensive(ArchiveRefused):
    code = "archive_too_expensive"


class _BudgetedDecompressor:
    """A read()-only stream of the decompressed bytes of a gzip, bzip2 or xz file that raises
    ArchiveTooExpensive as soon as it has produced more than `ratio` times the compressed bytes
    read so far (past a 1 MiB allowance) or run past `deadline` (time.monotonic()). Input is read
    in small steps and output produced at most `size` bytes per call, so a bomb is caught after a
    few megabytes and never inflates in memory; concatenated streams (pigz, pbzip2) are followed."""

    READ = 64 * 1024
    ALLOWANCE = 1024 * 1024

    def __init__(self, fh, kind: str, *, ratio: int, deadline: float) -> None:
        self._fh, self._kind = fh, kind
        self._ratio, self._deadline = ratio, deadline
        self._d = self._new()
        self._done = False
        self.consumed = self.produced = 0

    def _input(self) -> bytes:
        data = self._fh.read(self.READ)
        self.consumed += len(data)
        return data

    def _new(self):
        if self._kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._kind == "bzip2":
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor()

    def _step(self, size: int) -> bytes:
        d = self._d
        if d.eof:
            rest = d.unused_data or self._input()
            if not rest.strip(b"\x00"):
                self._done = True
                return b""
            self._d = self._new()
            return self._d.decompress(rest, size)
        if self._kind == "gzip":
            data = d.unconsumed_tail or self._input()
            if not data:
                self._done = True
                return d.flush()
            return d.decompress(data, size)
        if d.needs_input:
            data = self._input()
            if not data:
                self._done = True
                return b""
            return d.decompress(data, size)
        return d.decompress(b"", size)

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        out = b""
        try:
            while not out and not self._done:
                out = self._step(size)
                self._check(len(out))
        except (zlib.error, OSError, lzma.LZMAError, EOFError) as exc:
            raise tarfile.ReadError(str(exc)) from None
        return out

    def _check(self, produced: int) -> None:
        self.produced += produced
        if self.produced > self._ratio * self.consumed + self.ALLOWANCE:
            raise ArchiveTooExpensive(
                f"The archive inflates more than {self._ratio} times its compressed size; it is refused "
                "as too expensive to inspect."
            )
        if time.monotonic() > self._deadline:
            raise ArchiveTooExpensive("The archive takes too long to inspect; it is refused as too expensive.")


def _tar_members(path: str, sniffed: str):
    """Open the tar (headers only, members skipped) within the compression budget."""
    if sniffed == "tar":
        return tarfile.open(path, "r:")
    ratio, seconds = archive_budget()
    fh = open(path, "rb")  # noqa: SIM115 - closed with the TarFile (see inspect_archive)
    stream = _BudgetedDecompressor(fh, sniffed, ratio=ratio, deadline=time.monotonic() + seconds)
    try:
        # typeshed's _Fileobj wants write/seek/tell too; a stream ("r|") only ever reads.
        tf = tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK)  # type: ignore[call-overload]  # noqa: SIM115
    except BaseException:
        fh.close()
        raise
    tf._budget_file = fh
    return tf


def inspect_archive(path: str, sniffed: str) -> dict:
    """Count entries and add up declared uncompressed sizes from the archive's own index, never
    extracting anything; raise ArchiveRefused past PORTAL_ARCHIVE_MAX_ENTRIES / _UNCOMPRESSED.
    Compressed tars are read as a stream within a ratio and time budget (archive_budget), so a
    small bomb is refused with ArchiveTooExpensive in milliseconds; zips are judged by their
    central directory, whose declared sizes get the same ratio bound."""
    max_entries, max_bytes = archive_limits()
    ratio, _seconds = archive_budget()
    inflates_past_budget = False
    if sniffed == "zip":
        try:
            with zipfile.ZipFile(path) as zf:
                infos = zf.infolist()  # the central directory only
        except zipfile.BadZipFile as exc:
            raise ArchiveRefused(f"The zip archive is damaged: {exc}.") from None
        entries, total = len(infos), sum(i.file_size for i in infos)
        inflates_past_budget = total > max(ratio * os.path.getsize(path), 1024 * 1024)
        unsafe = any(i.filename.startswith("/") or ".." in i.filename.replace("\\", "/").split("/") for i in infos)
    elif sniffed in ("tar", "gzip", "bzip2", "xz"):
        entries = total = 0
        unsafe = False
        try:
            tf = _tar_members(path, sniffed)
            try:
                for member in tf:  # headers only; members are skipped, not written anywhere
                    entries += 1
                    total += member.size
                    unsafe = (
                        unsafe
                        or member.name.startswith("/")
                        or ".." in member.name.split("/")
                        or member.issym()
                        or member.islnk()
                    )
                    if entries > max_entries or total > max_bytes:
                        break
            finally:
                tf.close()
                if hasattr(tf, "_budget_file"):
                    tf._budget_file.close()
        except tarfile.ReadError:
            if sniffed != "gzip":
                raise ArchiveRefused("The archive cannot be read.") from None
            # A plain .gz file: its trailer declares the uncompressed size (mod 2**32).
            with open(path, "rb") as fh:
                fh.seek(-4, os.SEEK_END)
                entries, total = 1, int.from_bytes(fh.read(4), "little")
    else:
        return {}
    if entries > max_entries:
        raise ArchiveRefused(f"The archive holds more than {max_entries} entries; split it or pack fewer files.")
    if total > max_bytes:
        raise ArchiveRefused(f"The archive would unpack to more than {max_bytes} bytes.")
    if sniffed == "zip" and inflates_past_budget:
        raise ArchiveTooExpensive(
            f"The zip archive declares {total} bytes, more than {ratio} times its size; it is refused "
            "as too expensive to inspect."
        )
    return {"entries": entries, "uncompressed_bytes": total, "unsafe_paths": unsafe}
