"""The reader server: a process of its own, started by gis.io.read_process on first use, that imports the reader
(GDAL, pyarrow, pandas) once and forks one reader per file.

Over a SOCK_SEQPACKET socket from its parent: a job (JSON) comes in; the reader's pid (JSON) goes back with the
read end of a pipe whose write end only the reader holds, so that it reads as end-of-file once the reader has
exited, however it ends. The server exits when its parent closes the socket (or dies).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import traceback
from typing import NoReturn

from gis.io import layer_reader  # the point of the server: imported once, inherited by every reader it forks
from gis.io.read_process import MAX_MESSAGE_BYTES, ReadJob

PR_SET_PDEATHSIG = 1


def serve(fd: int) -> None:
    """Fork a reader for each job read from the socket ``fd``, until the parent closes it."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the readers: no zombies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches the whole process group: the parent decides
    with socket.socket(fileno=fd) as channel:
        while message := channel.recv(MAX_MESSAGE_BYTES):
            job = ReadJob.from_json(message)
            done_r, done_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                _reader(channel, done_r, job)
            os.close(done_w)
            socket.send_fds(channel, [json.dumps({"pid": pid}).encode()], [done_r])
            os.close(done_r)


def _reader(channel: socket.socket, done_r: int, job: ReadJob) -> NoReturn:
    """The forked reader: holds only the pipe's write end, reads the file, exits (0: a result was written)."""
    channel.close()  # a reader never speaks for the server
    os.close(done_r)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the server, whose parent enforces the time
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    code = 1
    try:
        layer_reader.run(job)
        code = 0
    except BaseException:  # a fault of ours, not of the file: the parent answers "could not be read"
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
