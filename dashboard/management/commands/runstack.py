"""`make run`: migrate, seed the demo, then run Redis (append-only persistence), Celery workers and daphne.

The processes run under honcho's manager: their output is multiplexed with a
coloured prefix, and Ctrl-C (or the end of any one of them) stops them all.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from honcho.manager import Manager

ROOT = Path(settings.BASE_DIR)


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def visible_gpus() -> int:
    """How many NVIDIA GPUs this machine shows (nvidia-smi -L), without loading PyTorch."""
    if not shutil.which("nvidia-smi"):
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


class Command(BaseCommand):
    help = "Run LR Arena on this machine: Redis (unless REDIS_URL points elsewhere), a worker and the web server."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-seed", action="store_true", help="do not create the demo team and user")

    def handle(self, *args, host: str, port: int, no_seed: bool, **options) -> None:
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        if not no_seed:
            call_command("seed_demo")

        manager = Manager()
        gpus = visible_gpus()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "REDIS_URL": settings.REDIS_URL}
        if gpus:
            env["ARENA_GPU_WORKERS"] = "1"
        redis_cmd = self.redis_command()
        if redis_cmd:
            manager.add_process("redis", redis_cmd, env=env, cwd=str(ROOT))
        python = shlex.quote(sys.executable)
        # One CPU worker, and one worker per visible GPU (cuda:N), each on its device's queue.
        for name, device in [("cpu-worker", "cpu"), *((f"gpu{i}-worker", f"cuda:{i}") for i in range(gpus))]:
            queue = "gpu" if device.startswith("cuda") else "cpu"
            manager.add_process(
                name,
                f"{python} -m celery -A dashboard worker --pool=solo --queues={queue} --loglevel=INFO "
                f"--hostname={name}@%h",
                env={**env, "ARENA_DEVICE": device},
                cwd=str(ROOT),
            )
        self.stdout.write(f"workers: 1 on the CPU, {gpus} on GPUs")
        manager.add_process(
            "web",
            f"{python} -m daphne -b {shlex.quote(host)} -p {port} dashboard.asgi:application",
            env=env,
            cwd=str(ROOT),
        )
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        self.stdout.write(self.style.SUCCESS(f"LR Arena: http://{shown_host}:{port}/   (Ctrl-C stops everything)"))
        self.stdout.flush()
        manager.loop()
        sys.exit(manager.returncode or 0)

    def redis_command(self) -> str | None:
        """The command that starts a local Redis, or None when one is already reachable."""
        url = settings.REDIS_URL
        if redis_answers(url):
            self.stdout.write(f"using the Redis server at {url}")
            return None
        if os.environ.get("REDIS_URL"):
            raise CommandError(f"REDIS_URL is set to {url}, but no Redis server answers there.")
        parsed = urlparse(url)
        if not shutil.which("redis-server"):
            if os.geteuid() == 0 and shutil.which("apt-get"):
                self.stdout.write("redis-server is missing: installing the Debian package")
                subprocess.run(["bash", str(ROOT / "scripts/ensure-system-deps.sh"), "redis"], check=True)
            else:
                raise CommandError(
                    "redis-server is not installed. Install it (sudo apt-get install redis-server), "
                    "or set REDIS_URL to a running Redis server."
                )
        data_dir = Path(settings.VAR_DIR) / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        return (
            f"redis-server --bind {parsed.hostname or '127.0.0.1'} --port {parsed.port or 6379} "
            f"--save '' --appendonly yes --appendfsync everysec --dir {shlex.quote(str(data_dir))}"
        )
