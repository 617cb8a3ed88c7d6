"""One 2 GB file committed to an S3 location (SeaweedFS), against a plain boto3 ``upload_file``.

The script starts its own SeaweedFS server (``tests/s3server.py``), writes a random
2 GB file into a staged bag (streamed, never whole in memory), and then, each in its
own child process:

* ``S3Location.commit`` of the bag: local SHA-256 pass, multipart upload with
  server-checked SHA-256 per part, read-back compare, commit marker;
* a plain ``boto3`` ``upload_file`` of the same file with default settings.

It prints each one's duration, MB/s and peak RSS (``ru_maxrss`` of the child, read
through ``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process) and the ratios.
The target is a peak RSS below 300 MB for the commit. Everything is deleted at the end.

    .venv/bin/python bench/s3_big.py [--gigabytes 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.s3server import CREDENTIALS, WeedServer  # noqa: E402

MB = 1024 * 1024
KEY = "J012/J012-LX·2024-Y-0001"
TARGET_RSS_MB = 300
# Runs one command and reports the peak RSS of that command alone: the wrapper's only child.
MEASURE = (
    "import resource, subprocess, sys;"
    " rc = subprocess.call(sys.argv[1:]);"
    " print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); sys.exit(rc)"
)


def write_random(path: Path, size: int) -> None:
    """``size`` random bytes written in 4 MiB blocks (incompressible, so the server stores them all)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 4 * MB
    with open(path, "wb") as f:
        for start in range(0, size, block):
            f.write(os.urandom(min(block, size - start)))


def measured(args: list[str]) -> tuple[float, float, str]:
    """Run ``python bench/s3_big.py <args>`` in a child; return its upload seconds, peak RSS in MB and result."""
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", MEASURE, sys.executable, str(Path(__file__).resolve()), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"子进程失败 (child failed): {' '.join(args)}\n{done.stdout}\n{done.stderr}")
    *output, rss_kb = done.stdout.strip().splitlines()
    result = json.loads(output[-1])
    return result["seconds"], int(rss_kb) / 1024, result["stored"]


def child_commit(endpoint: str, bucket: str, staged: str) -> None:
    from archive.storage.s3 import S3Location

    loc = S3Location("offsite", endpoint_url=endpoint, bucket=bucket, prefix="bench")
    started = time.perf_counter()  # the commit alone, not the interpreter's start-up
    loc.commit(KEY, Path(staged))
    seconds = time.perf_counter() - started
    stored = {f["path"]: f["size"] for f in loc.commit_marker(KEY)["files"]}
    print(json.dumps({"seconds": seconds, "stored": json.dumps(stored, ensure_ascii=False)}))


def child_plain(endpoint: str, bucket: str, path: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    started = time.perf_counter()
    client.upload_file(path, bucket, "plain/big.bin")
    seconds = time.perf_counter() - started
    size = client.head_object(Bucket=bucket, Key="plain/big.bin")["ContentLength"]
    print(json.dumps({"seconds": seconds, "stored": str(size)}))


def run(work: Path, gigabytes: float) -> None:
    size = int(gigabytes * 1024 * MB)
    staged = work / "bag"
    (staged / "data").mkdir(parents=True)
    (staged / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    big = staged / "data" / "录像·2024.bin"
    started = time.perf_counter()
    write_random(big, size)
    print(f"写入 {size / MB:.0f} MB 本地文件 (wrote local file) in {time.perf_counter() - started:.1f} s")

    os.environ.update(CREDENTIALS)
    with WeedServer(work / "weed") as server:
        bucket = server.new_bucket(object_lock=True)
        commit_s, commit_rss, listing = measured(["--child-commit", server.endpoint_url, bucket, str(staged)])
        plain_s, plain_rss, _ = measured(["--child-plain", server.endpoint_url, bucket, str(big)])
    report(size, (commit_s, commit_rss), (plain_s, plain_rss), listing)


def report(size: int, commit: tuple[float, float], plain: tuple[float, float], listing: str) -> None:
    mb = size / MB
    print(f"committed: {listing}")
    print(f"{'':28} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12}")
    print(f"{'S3Location.commit':28} {commit[0]:8.1f} {mb / commit[0]:8.1f} {commit[1]:12.0f}")
    print(f"{'boto3 upload_file (plain)':28} {plain[0]:8.1f} {mb / plain[0]:8.1f} {plain[1]:12.0f}")
    print(f"ratio commit/plain: time {commit[0] / plain[0]:.2f}x, peak RSS {commit[1] / plain[1]:.2f}x")
    verdict = "达标 (met)" if commit[1] < TARGET_RSS_MB else "未达标 (MISSED)"
    print(f"target peak RSS < {TARGET_RSS_MB} MB: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, help="where the file and the server data go (default: a temp dir)")
    parser.add_argument("--child-commit", nargs=3, metavar=("ENDPOINT", "BUCKET", "STAGED"), help=argparse.SUPPRESS)
    parser.add_argument("--child-plain", nargs=3, metavar=("ENDPOINT", "BUCKET", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_commit:
        return child_commit(*args.child_commit)
    if args.child_plain:
        return child_plain(*args.child_plain)
    work = Path(tempfile.mkdtemp(prefix="dangan-s3-bench-", dir=args.workdir))
    try:
        run(work, args.gigabytes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
