"""What the soak (bench/soak.py) runs the service on, all of it its own: a private PostgreSQL cluster and a private
``redis-server`` on free ports in a temporary directory (never the machine's shared ones, which other work uses),
the deployment of ``deploy/run`` against them (nginx with TLS, two workers, a scheduler, each restarted when it
dies), and a webhook receiver in the soak's own process. Each can be hurt on purpose: the faults."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench._common import ROOT, free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres() -> list[str]:
    """initdb and pg_ctl refuse to run as root: as root they run as the ``postgres`` system user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class PrivatePostgres:
    """A PostgreSQL 15 cluster of the soak's own (PostGIS and pgRouting come from the system's packages)."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/commandpost"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*_as_postgres(), str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        subprocess.run(
            [*_as_postgres(), str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        settings = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
            "max_connections = 200\nshared_buffers = 128MB\n"
        )
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(settings)
        self._ctl("-w", "start")

    def restart(self) -> None:
        """A fast restart: every connection cut, the cluster back once it accepts connections."""
        self._ctl("-w", "-m", "fast", "restart")

    def pids(self) -> list[int]:
        """The postmaster and its backends."""
        try:
            master = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [master, *_children(master)]

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._ctl("-m", "immediate", "stop")


class PrivateRedis:
    """A ``redis-server`` of the soak's own, keeping nothing on disk (the service keeps nothing in Redis that
    cannot be lost)."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "redis"
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            ["redis-server", *args, "--dir", str(self.dir), "--logfile", str(self.dir / "log")],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: see {self.dir / 'log'}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def pids(self) -> list[int]:
        return [self.proc.pid] if self.proc is not None and self.proc.poll() is None else []


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mb(pids: list[int]) -> float:
    """The resident memory of these processes together (NaN when none is alive)."""
    total, alive = 0, False
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    alive = True
        except OSError:
            continue
    return total / 1024 if alive else float("nan")


class Deployment:
    """``deploy/run`` on private ports against the private PostgreSQL and Redis, restarting a process that dies
    (``DEPLOY_RESTART=always``), run from this tree by this interpreter."""

    def __init__(self, base: Path, pg: PrivatePostgres, redis: PrivateRedis, extra_env: dict[str, str]) -> None:
        self.state = base / "deploy"
        self.https, self.http = free_port(), free_port()
        self.worker_ports = [free_port(), free_port()]
        self.admin_password = "soak-admin-" + secrets.token_hex(6)
        self.env = {
            **os.environ,
            "COMMANDPOST_DATABASE_URL": pg.url,
            "COMMANDPOST_REDIS_URL": redis.url,
            "COMMANDPOST_REDIS_PREFIX": "soak",
            "COMMANDPOST_SECRET_KEY": secrets.token_urlsafe(32),
            "COMMANDPOST_ADMIN_PASSWORD": self.admin_password,
            "COMMANDPOST_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "DEPLOY_PYTHON": sys.executable,
            "DEPLOY_RESTART": "always",
            "DEPLOY_STATE": str(self.state),
            "DEPLOY_HTTPS_PORT": str(self.https),
            "DEPLOY_HTTP_PORT": str(self.http),
            "DEPLOY_WORKER_PORTS": " ".join(map(str, self.worker_ports)),
            **extra_env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = f"https://localhost:{self.https}"

    def cli(self, *args: str) -> None:
        """``commandpost ARGS`` on the private database (e.g. ``db upgrade``, ``plans load``)."""
        done = subprocess.run(
            [sys.executable, "-m", "web.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"commandpost {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(ROOT / "deploy" / "run")], env=self.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert self.proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 300
        while not any("ready: https://" in line for line in lines):
            line = self.proc.stdout.readline().decode()
            if not line and self.proc.poll() is not None:
                raise RuntimeError("deploy/run stopped:\n" + "".join(lines))
            lines.append(line)
            if time.monotonic() > deadline:
                raise RuntimeError("deploy/run was not ready in 300 s:\n" + "".join(lines))

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.state / "tls" / "ca.pem"))

    def pid(self, name: str) -> int | None:
        """The process id of ``worker-<port>``, ``scheduler`` or ``nginx`` now."""
        try:
            return int((self.state / "pids" / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def names(self) -> list[str]:
        return [*(f"worker-{p}" for p in self.worker_ports), "scheduler"]

    def kill(self, name: str) -> int | None:
        """SIGKILL a process of the deployment (its supervisor starts it again); the id killed."""
        pid = self.pid(name)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return None
        return pid

    def restarts(self) -> Counter[str]:
        """How many times each process was started again, from deploy/run's log of restarts."""
        found: Counter[str] = Counter()
        log = self.state / "logs" / "restarts.log"
        if log.exists():
            for line in log.read_text().splitlines():
                found[line.split()[1]] += 1
        return found

    def log_summary(self) -> dict[str, dict[str, int]]:
        """What each process logged: lines by level, the PostgreSQL error codes named (57014: a statement timeout;
        57P01: the server shut down), and sweeps skipped because the previous run of it had not finished."""
        found: dict[str, dict[str, int]] = {}
        for log in sorted((self.state / "logs").glob("*.log")):
            text = log.read_text(errors="replace")
            counts: Counter[str] = Counter()
            for level in ("warning", "error", "critical"):
                counts[level] = text.count(f'"level": "{level}"')
            for code in re.findall(r"SQLSTATE (\w+)", text):
                counts[f"SQLSTATE {code}"] += 1
            counts["sweep skipped (still running)"] = text.count("maximum number of running instances")
            found[log.stem] = {k: v for k, v in counts.items() if v}
        return found

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


class WebhookReceiver:
    """The agencies' webhook endpoint: answers 200 (and, for a share of first tries, 503, so retries happen),
    keeping every delivery id it was sent (``X-Commandpost-Delivery``) and how many times."""

    def __init__(self, fail_every: int = 0) -> None:
        self.seen: Counter[int] = Counter()
        self.fail_every = fail_every
        self.failed: set[int] = set()
        self.port = 0
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                if not await reader.readline():
                    return
                length, delivery = 0, None
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    elif name.lower() == b"x-commandpost-delivery":
                        delivery = int(value)
                await reader.readexactly(length)
                # A share of deliveries have their first try refused: the sender must try them again.
                refused = delivery is not None and self.fail_every and delivery % self.fail_every == 0
                if refused and delivery is not None and delivery not in self.failed:
                    self.failed.add(delivery)
                    writer.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    continue
                if delivery is not None:
                    self.seen[delivery] += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def scratch() -> Path:
    """A temporary directory for one soak (the private cluster's files, the deployment's state)."""
    base = Path(tempfile.mkdtemp(prefix="commandpost-soak-"))
    base.chmod(0o755)  # the postgres user reaches its cluster inside
    return base


def remove(base: Path) -> None:
    shutil.rmtree(base, ignore_errors=True)
