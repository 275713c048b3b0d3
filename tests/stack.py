"""A real LR Arena deployment for the integration and browser tests.

Starts a redis-server, a Celery worker and daphne as separate processes on
free loopback ports, with their own SQLite file, exactly as `make run` does,
and tears them down afterwards. Tests talk to it over HTTP and websockets
only, as any client would.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = "demo"
DEMO_PASSWORD = "arena-demo-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: a process exited early with code {proc.returncode}")
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Stack:
    workdir: Path
    web_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    # Extra environment for every process, e.g. short leases for the fault tests.
    settings: dict[str, str] = field(default_factory=dict)
    # Redis with append-only persistence, as `make run` and docker-compose run it.
    redis_appendonly: bool = True
    # None: a SQLite file in workdir (the default deployment); else e.g. a PostgreSQL URL.
    database_url: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            "DATABASE_URL": self.database_url or f"sqlite:///{self.workdir / 'arena.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "ARENA_VAR_DIR": str(self.workdir),
            "ARENA_DEMO_PASSWORD": DEMO_PASSWORD,
            "ARENA_DEVICE": "cpu",
            "ARENA_PROGRESS_SECONDS": "1",  # progress within an epoch: several reports in a seconds-long epoch
            **self.settings,
        }

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs[name] = proc
        return proc

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> Stack:
        self.start_redis()
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")
        self._spawn_worker("worker", f"test-worker-{self.web_port}")
        self._spawn(
            "web",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.web_port), "dashboard.asgi:application"],
        )
        procs = list(self.procs.values())
        wait_for(self._web_ready, 60, "daphne to answer", procs)
        wait_for(lambda: "ready." in self.logs["worker"].read_text(errors="replace"), 90, "the Celery worker", procs)
        return self

    def start_redis(self) -> subprocess.Popen:
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise RuntimeError("redis-server is not installed: run `make test`, which installs it")
        starts = sum(1 for key in self.procs if key.startswith("redis"))
        proc = self._spawn(
            f"redis-{starts}" if starts else "redis",
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.redis_appendonly else "no",
                "--dir",
                str(self.workdir),
            ],
        )
        wait_for(self._redis_ready, 30, "redis-server", [proc])
        return proc

    def restart_redis(self, *, keep_data: bool) -> None:
        """Stop Redis and start it again; without keep_data, with everything it held gone (no persistence)."""
        name = [key for key in self.procs if key.startswith("redis")][-1]
        self.kill(name)
        if not keep_data:
            shutil.rmtree(self.workdir / "appendonlydir", ignore_errors=True)
        self.start_redis()

    def _redis_ready(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.redis_port, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def _spawn_worker(self, name: str, hostname: str, queue: str = "cpu") -> subprocess.Popen:
        return self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "dashboard",
                "worker",
                "--pool=solo",
                f"--queues={queue}",
                "--loglevel=INFO",
                f"--hostname={hostname}@%h",
            ],
        )

    def start_worker(self, wait: bool = False, hostname: str | None = None) -> subprocess.Popen:
        """A Celery worker: by default under the first worker's name (as a restarted worker would be)."""
        restarts = sum(1 for key in self.procs if key.startswith("worker"))
        name = f"worker-{restarts}" if restarts else "worker"  # worker, worker-1, worker-2 …
        proc = self._spawn_worker(name, hostname or f"test-worker-{self.web_port}")
        if wait:
            wait_for(lambda: "ready." in self.logs[name].read_text(errors="replace"), 90, "the new worker", [proc])
        return proc

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started: a machine losing power, as far as it knows."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def _web_ready(self) -> bool:
        try:
            return requests.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def log_tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])

    # -- API helpers ------------------------------------------------------------------
    def token(self, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> str:
        response = requests.post(f"{self.base_url}/api/token/", data={"username": username, "password": password})
        response.raise_for_status()
        return response.json()["token"]

    def api(self, token: str) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        return session
