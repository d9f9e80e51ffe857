"""A real PostgreSQL server with pgvector for tests: a throwaway cluster (initdb) on a free loopback
port, stopped and deleted afterwards.

The binaries come from the `pgserver` PyPI package (PostgreSQL with pgvector, in the `test` extra);
a system PostgreSQL whose share directory has pgvector's `vector.control` works too. PostgreSQL
refuses to run as root, so as root the cluster runs as the unprivileged user `pgserver` (created
if missing, as the pgserver package itself does)."""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "pgserver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path:
    # located, not imported: importing pgserver has side effects (lock files, a warning)
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
        if (bundled / "postgres").exists():
            return bundled
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        version = Path(bindir).parent.name
        if Path(f"/usr/share/postgresql/{version}/extension/vector.control").exists():
            return Path(bindir)
    raise RuntimeError("no PostgreSQL with pgvector: pip install pgserver (the test extra has it)")


def _open_path_to(path: Path) -> None:
    """Let another user traverse and read `path` (the bundled binaries may live under /root)."""
    for parent in [*reversed(path.parents), path]:
        mode = parent.stat().st_mode
        if mode & 0o005 != 0o005:
            os.chmod(parent, mode | 0o055)


class PgServer:
    """`dsn` is its postgresql:// URL (user postgres, trust auth). `stop()` shuts it down (fast
    shutdown), `start()` brings it back on the same port, `close()` stops it and deletes the cluster."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._dir = Path(tempfile.mkdtemp(prefix="warmgate-pg-"))
        self.data = self._dir / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = USER
            try:
                pwd.getpwnam(USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True, capture_output=True)
            _open_path_to(self.bin)
            _open_path_to(self.bin.parent / "lib")
            _open_path_to(self.bin.parent / "share")
            shutil.chown(self._dir, USER)
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "utf8",
             "--no-sync"],
            check=True, capture_output=True, user=self.user, timeout=120,
        )
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self._dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "shared_buffers=64MB", "-c", "max_connections=50"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=self.user,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited at start")
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"], check=False
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: fast shutdown, clients are disconnected
            self.proc.wait(30)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
