"""Receiving a layer file: the size limit enforced before and while the body is read, the file kept on disk.

Not a router: the helpers the import endpoints share.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from core.errors import Invalid, TooLarge
from core.settings import Settings
from gis import service as gis


@dataclass(frozen=True)
class Upload:
    """The received file, saved under a name we chose; ``filename`` is the client's, cleaned (for the report)."""

    path: Path
    filename: str
    fields: dict[str, str]


def _too_large(limit_mb: int) -> TooLarge:
    return TooLarge(f"the upload is larger than the {limit_mb} MB allowed (COMMANDPOST_MAX_UPLOAD_MB)")


async def _limited(request: Request, limit: int, limit_mb: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise _too_large(limit_mb)
        yield chunk


def _save(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, length=1 << 20)


@asynccontextmanager
async def receive_upload(request: Request, settings: Settings) -> AsyncIterator[Upload]:
    """The multipart ``file`` of the request saved to a temporary file (removed afterwards), and the other fields.

    A Content-Length over the limit is refused before a byte is read; a body without one is counted as it streams.
    """
    limit_mb = settings.max_upload_mb
    limit = limit_mb * 1_000_000
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _too_large(limit_mb)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Invalid("send the layer as multipart/form-data with the file in the field 'file'", field="file")
    parser = MultiPartParser(request.headers, _limited(request, limit, limit_mb), max_files=1, max_fields=20)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise Invalid(f"the multipart body cannot be read: {exc.message}", field="file") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise Invalid("no file in the field 'file'", field="file")
        filename = gis.clean_file_name(raw=upload.filename)
        directory = Path(tempfile.mkdtemp(prefix="commandpost-upload-"))
        try:
            path = directory / "upload"  # our name: the client's may be '..', 300 characters, or hold a NUL
            await asyncio.to_thread(_save, upload, path)
            fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
            yield Upload(path=path, filename=filename, fields=fields)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    finally:
        await form.close()
