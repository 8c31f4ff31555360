"""Reading a layer file in a process of its own: the web process never loads GDAL, and a file that would read
forever, grow without end or crash the reader costs that process, answered with a 4xx.

The readers are forked by a reader server (gis.io.read_server), started on first use, that has imported GDAL, pyarrow
and pandas once: a read forks in milliseconds instead of paying ~1 s of imports. (Not multiprocessing's
forkserver: on Python 3.11 it neither preloads ``__main__`` nor applies the parent's ``sys.path``, so each reader
would import the web app again, from wherever the venv points.) Jobs and answers are JSON, never pickle: a reader
that a hostile file subverted still hands the web process only data. The reader leaves its rows as an Arrow IPC
file in a work directory the caller owns, beside a small JSON result.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc

from core.errors import Invalid, TooLarge, Unavailable
from gis.io.files import ZipLimits

log = logging.getLogger(__name__)

RESULT = "result.json"
FRAME = "frame.arrow"
MAX_MESSAGE_BYTES = 1 << 16
MAX_RESULT_BYTES = 1 << 20
START_SECONDS = 60.0  # for the server's answer with a reader's pid: its first start imports GDAL, pandas, pyarrow
# The server's whole program: the parent's import path (so that it runs this very code), then the serve loop.
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from gis.io.read_server import serve; serve(int(sys.argv[2]))"
)


@dataclass(frozen=True)
class ReadLimits:
    """What one read may take: rows (counted while reading), wall-clock seconds (then the reader is killed) and
    address space in MB (the kernel refuses more). The defaults are core.settings' defaults."""

    max_rows: int = 1_000_000
    max_seconds: float = 300.0
    max_memory_mb: int = 4096


@dataclass(frozen=True)
class ReadJob:
    """What a reader is told: the file, the name to call it by, the directory to write in, the limits."""

    path: str
    name: str
    workdir: str
    zip_limits: ZipLimits
    limits: ReadLimits

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ReadJob:
        fields = json.loads(data)
        return cls(
            **{**fields, "zip_limits": ZipLimits(**fields["zip_limits"]), "limits": ReadLimits(**fields["limits"])}
        )


@dataclass
class RawLayer:
    """What the reader read: GDAL's Arrow table (geometry as WKB) and what pyogrio says about its columns."""

    table: pa.Table
    meta: dict[str, Any]
    notes: list[str]


class _Server:
    """The parent's end of the reader server: starts it when first needed (and again if it died)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None

    def start(self, job: ReadJob) -> tuple[int, int]:
        """Have a reader forked for ``job`` (blocking: call it in a thread); its pid, and a file descriptor that
        reads as end-of-file once the reader has exited (the caller closes it)."""
        with self._lock:
            for _ in range(2):  # a server that died is started again, once
                if self._socket is None or self._process is None or self._process.poll() is not None:
                    self._launch()
                assert self._socket is not None
                with contextlib.suppress(OSError, ValueError, KeyError):
                    self._socket.send(job.to_json())
                    data, fds, _, _ = socket.recv_fds(self._socket, MAX_MESSAGE_BYTES, 1)
                    if fds:
                        return int(json.loads(data)["pid"]), fds[0]
                self.stop()
        raise Unavailable("the layer reader could not be started; try again")

    def _launch(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=reader_environment(),
            )
        ours.settimeout(START_SECONDS)
        self._socket = ours

    def stop(self) -> None:
        """Close the server's socket (it exits when it reads the end) and wait for it briefly."""
        if self._socket is not None:
            self._socket.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._socket = self._process = None

    @property
    def pid(self) -> int | None:
        """The server's pid, while it runs (its children are the readers)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None


# What the readers may see of the web process's environment: what Python, PROJ and GDAL need to run, none of
# its settings (COMMANDPOST_SECRET_KEY, database passwords, ...).
_KEPT_VARIABLES = {"PATH", "HOME", "LANG", "TZ", "TMPDIR", "VIRTUAL_ENV", "GDAL_DATA", "PROJ_DATA", "PROJ_LIB"}
_KEPT_PREFIXES = ("LC_", "PYTHON")


def reader_environment() -> dict[str, str]:
    """The environment the reader server (and so every reader) starts with."""
    return {k: v for k, v in os.environ.items() if k in _KEPT_VARIABLES or k.startswith(_KEPT_PREFIXES)}


SERVER = _Server()
atexit.register(SERVER.stop)


async def read_in_child(job: ReadJob) -> RawLayer:
    """Run ``job`` in a reader process and return what it read, or raise the 4xx it ended in.

    The reader is killed past ``job.limits.max_seconds``, and when the caller is cancelled (the client went away).
    """
    starting = asyncio.ensure_future(asyncio.to_thread(SERVER.start, job))
    try:
        pid, done = await asyncio.shield(starting)
    except asyncio.CancelledError:  # the reader may still come: stop it when it does
        starting.add_done_callback(_stop_started)
        raise
    try:
        finished = await _exited(done, timeout=job.limits.max_seconds)
    finally:
        if _running(done):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.close(done)
    if not finished:
        raise Invalid(
            f"{job.name} took longer than {job.limits.max_seconds:g} s to read and was stopped "
            "(COMMANDPOST_IMPORT_READ_SECONDS)",
            field="file",
        )
    return _outcome(job)


def _running(done: int) -> bool:
    """Whether the reader still runs: its end of the pipe is still open (poll, not select: any fd number)."""
    poller = select.poll()
    poller.register(done, select.POLLIN)
    return not poller.poll(0)


def _stop_started(starting: asyncio.Future[tuple[int, int]]) -> None:
    if starting.cancelled() or starting.exception() is not None:
        return
    pid, done = starting.result()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.close(done)


async def _exited(done: int, *, timeout: float) -> bool:
    """Wait, without blocking the loop, until ``done`` reads as end-of-file; False if it has not after ``timeout``."""
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ended.done():
            ended.set_result(None)

    loop.add_reader(done, readable)
    try:
        async with asyncio.timeout(timeout):
            await ended
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(done)
    return True


def _outcome(job: ReadJob) -> RawLayer:
    workdir = Path(job.workdir)
    result_path = workdir / RESULT
    if not result_path.is_file() or result_path.stat().st_size > MAX_RESULT_BYTES:
        log.warning("the layer reader for %r ended without a result", job.name)
        raise Invalid(
            f"{job.name} could not be read: the reader stopped without an answer (a file that needs more than the "
            f"{job.limits.max_memory_mb} MB allowed, COMMANDPOST_IMPORT_READ_MEMORY_MB, ends this way)",
            field="file",
        )
    result = json.loads(result_path.read_text(encoding="utf-8"))
    if "error" in result:
        if result["error"] == TooLarge.code:
            raise TooLarge(str(result["detail"]))
        raise Invalid(str(result["detail"]), field=result.get("field"))
    source = pa.memory_map(str(workdir / FRAME))  # the table's buffers are the mapped file: no copy
    table = pa.ipc.open_file(source).read_all()
    return RawLayer(table=table, meta=result["meta"], notes=list(result["notes"]))


def release_memory() -> None:
    """Give memory freed by a large import back to the system: Arrow's pool, then glibc's heap (where pandas and
    numpy allocate), which otherwise keeps what it freed for later."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)
