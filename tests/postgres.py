"""A real PostgreSQL server for the integration tests, from Debian's `postgresql` package.

`make test` installs the package (scripts/ensure-system-deps.sh); this starts
a throwaway cluster on a free loopback port with its own data directory and
stops it afterwards. PostgreSQL refuses to run as root, so as root the
cluster runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.stack import free_port


def server_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: run `make test`, which installs it")
    return Path(initdb).parent


@dataclass
class Postgres:
    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="arena-pg-")))

    @property
    def url(self) -> str:
        return f"postgres://arena@127.0.0.1:{self.port}/arena"

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def _run(self, program: str, *args: str) -> None:
        command = [str(server_bindir() / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> Postgres:
        self.root.chmod(0o755)
        self.datadir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.datadir, "postgres")
        self._run("initdb", "-D", str(self.datadir), "-U", "arena", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.datadir), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "arena", "arena")
        return self

    def stop(self) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
