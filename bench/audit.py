"""Fixity audit throughput, against bagit-python and the hashing limit in the same run.

Builds once (cached in ``bench/out/audit/``) an archive home of ≥ 1,000 born-digital 件
(≥ 1 GB; a text PDF, a JPEG photo and a WAV recording each, one copy in one local
location) by a real in-process ingest. Then times, each in a fresh child process:

- the hashing limit: hashlib over every file of every bag, two processes each hashing
  half of the bytes, SHA-256 only and then SHA-256 + SM3 fed from one read;
- bagit-python ``Bag(path).validate(processes=2)`` over every bag. bagit 1.9 loads only
  manifests named after ``hashlib.algorithms_guaranteed``, which has no SM3: it checks
  SHA-256 alone (printed from the bags' ``algorithms``, not assumed);
- ``dangan audit`` with ``AuditOptions(all=True, algorithms=("sha256",))``, then
  ``AuditOptions(all=True)`` (SHA-256 + SM3).

Before every run the parent reads every file that contender reads, so each starts with the
same (fully cached) page cache. The contenders run in ``--repeat`` rounds, so a change in
the machine's load hits all alike, and the best run of each counts. Wall and CPU seconds
are printed; the targets are judged on wall time.

Then the same audits run over a SeaweedFS S3 location (``tests/s3server.py``, started and
stopped here) holding copies of the same AIPs, uploaded with ``S3Location.commit_from``
(once: the server's data is cached in ``bench/out/audit/s3/`` beside the home it copies),
against plain boto3 download-and-hash of the same objects with the same two threads
(the listing is not timed for boto3). The server shares the two cores, so its CPU time
is printed too. ``--local-only`` skips this part.

    .venv/bin/python bench/audit.py [--items 1000] [--repeat 2] [--local-only] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # before bench/ itself, whose ingest.py would shadow the ingest package

from archive.catalogue import Catalogue  # noqa: E402
from archive.config import Fonds, StorageConfig, init_home, load_settings  # noqa: E402
from archive.storage import FsLocation, Location, open_locations, prepare_locations  # noqa: E402
from bench.ingest import jpeg_bytes, pdf_bytes, wav_bytes  # noqa: E402
from preservation.audit import AuditOptions, audit  # noqa: E402

MB = 1024 * 1024
OUT = REPO / "bench" / "out" / "audit"
BLOCK = 1 << 20
WORKERS = 2  # the machine's cores; every contender gets the same two
SHA = ("sha256",)
S3_PREFIX = "dangan"
S3_BUCKET = "bench"
S3_CACHE = OUT / "s3"
S3_NAME = "offsite"


# --- the test archive ---------------------------------------------------------------------


def make_items(root: Path, items: int) -> tuple[int, int]:
    """A bare folder of born-digital 件 of about 1.1 MB each: PDF, JPEG and WAV, all distinct."""
    rng = random.Random(20261205)
    files = size = 0
    for n in range(items):
        item = root / f"件{n:04d}"
        item.mkdir(parents=True)
        parts = {
            "正文.pdf": pdf_bytes(n, "Residents committee audit benchmark"),
            "照片.jpg": jpeg_bytes(rng),
            "录音.wav": wav_bytes(rng, 6.5 + rng.random() * 1.5),
        }
        for name, data in parts.items():
            (item / name).write_bytes(data)
            files += 1
            size += len(data)
    return files, size


def one_copy_home(home: Path, ocr: str | None = None) -> None:
    """A home with one local location and a copy policy of one copy for every 保管期限;
    ``ocr`` overrides the default ``[ingest] ocr`` setting."""
    init_home(
        home,
        Fonds("J012", "基准测试社区居民委员会"),
        storage=(StorageConfig("local", "fs", {"path": "store"}),),
        ingest={"ocr": ocr} if ocr else {},
        copies={"default": 1, "Y": 1},
    )


def build_archive(home: Path, items: int, *, year: int = 2023, retention: str = "D10", ocr: str | None = None) -> None:
    """Ingest ``items`` generated 件 of one class into a new home (skipped when the cached one matches).

    ``ocr`` overrides the home's ``[ingest] ocr`` setting.
    """
    marker = home / "bench-built.json"
    if marker.is_file() and json.loads(marker.read_text())["items"] == items:
        return
    shutil.rmtree(home, ignore_errors=True)
    batch = home.parent / "batch"
    shutil.rmtree(batch, ignore_errors=True)
    t = time.perf_counter()
    files, size = make_items(batch, items)
    print(f"built batch: {items} 件, {files} files, {size / MB:.0f} MB in {time.perf_counter() - t:.0f} s", flush=True)
    one_copy_home(home, ocr)
    settings = load_settings(home)
    prepare_locations(settings)
    t = time.perf_counter()
    archived = ingest_batch(home, batch, year, retention)
    print(f"ingested {archived} 件 in {time.perf_counter() - t:.0f} s", flush=True)
    if archived != items:
        sys.exit(f"only {archived} of {items} 件 archived; see the ingest result above")
    shutil.rmtree(batch)
    marker.write_text(json.dumps({"items": items, "built": time.time()}))  # the S3 copy names what it copied


def ingest_batch(home: Path, batch: Path, year: int, retention: str) -> int:
    from ingest.metadata import ClassDefaults
    from ingest.pipeline import Ingestor

    settings = load_settings(home)
    catalogue = Catalogue(settings.catalogue_path)
    defaults = ClassDefaults(
        category="WS", year=year, retention=retention, carrier="电子", author="基准测试", date=f"{year}0101"
    )

    def progress(result: Any, done: int, total: int) -> None:
        if result.status != "archived":
            print(f"  {result.to_json()}", flush=True)
        if done % 100 == 0:
            print(f"  {done}/{total}", flush=True)

    try:
        result = Ingestor.open(settings, catalogue).run(batch, None, defaults, progress)
    finally:
        catalogue.close()
    return result.count("archived")


def bag_dirs(home: Path) -> list[Path]:
    location = FsLocation("local", home / "store")
    return [location.bag_path(key) for key in location.list_keys()]


def bag_files(home: Path) -> list[Path]:
    """Every file of every bag: what the audit reads."""
    return [Path(d, name) for bag in bag_dirs(home) for d, _dirs, names in os.walk(bag) for name in names]


def warm(paths: list[Path]) -> None:
    """Read every file once, so each contender starts with the same cached pages."""
    buf = bytearray(BLOCK)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def files_under(root: Path) -> list[Path]:
    return [Path(d, name) for d, _dirs, names in os.walk(root) for name in names]


# --- contenders, each run in its own child process ---------------------------------------------


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have been waited for (pool workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@contextmanager
def clock() -> Iterator[dict[str, float]]:
    """Wall and CPU seconds of the block, filled in when it ends."""
    took: dict[str, float] = {}
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield took
    took.update(seconds=time.perf_counter() - wall, cpu=cpu_seconds() - cpu)


def hash_files(paths: list[str], algorithms: tuple[str, ...]) -> int:
    """hashlib over whole files, every digest fed from one read into a reused buffer."""
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    total = 0
    for p in paths:
        hashers = [hashlib.new(a) for a in algorithms]
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                for h in hashers:
                    h.update(view[:n])
                total += n
        for h in hashers:
            h.hexdigest()
    return total


def halves(paths: list[Path]) -> list[list[str]]:
    """Two lists of files with equal shares of the bytes (largest first, to the lighter half)."""
    out: list[list[str]] = [[], []]
    load = [0, 0]
    for p in sorted(paths, key=lambda p: p.stat().st_size, reverse=True):
        i = load.index(min(load))
        out[i].append(str(p))
        load[i] += p.stat().st_size
    return out


def child_limit(args: argparse.Namespace) -> dict[str, Any]:
    algorithms = tuple(args.algorithms.split(","))
    parts = halves(bag_files(args.home))
    with clock() as took, multiprocessing.get_context("fork").Pool(WORKERS) as pool:
        hashed = sum(pool.starmap(hash_files, [(part, algorithms) for part in parts]))
        # Let the workers end on their own: the terminate() of leaving the block can kill one while it
        # holds the task queue's lock, and the other then waits for it forever.
        pool.close()
        pool.join()
    return {**took, "bytes": hashed, "files": sum(map(len, parts))}


def child_bagit(args: argparse.Namespace) -> dict[str, Any]:
    import bagit

    bags = [str(d) for d in bag_dirs(args.home)]
    algorithms: set[str] = set()
    entries: list[str] = []
    with clock() as took:
        for path in bags:
            bag = bagit.Bag(path)
            bag.validate(processes=WORKERS)  # raises BagValidationError on any damage
            algorithms.update(bag.algorithms)
            entries += [os.path.join(path, e) for e in bag.entries]
    size = sum(os.path.getsize(e) for e in entries)  # what bagit hashed: every manifest and tag manifest entry
    return {**took, "bytes": size, "files": len(entries), "algorithms": sorted(algorithms)}


def child_audit(args: argparse.Namespace) -> dict[str, Any]:
    settings = load_settings(args.home)
    catalogue = Catalogue(args.catalogue or settings.catalogue_path)
    locations: list[Location] = open_locations(settings) if args.endpoint is None else [s3_location(args)]
    algorithms = tuple(args.algorithms.split(","))
    options = AuditOptions(all=True, algorithms=algorithms) if algorithms == SHA else AuditOptions(all=True)
    with clock() as took:
        report = audit(settings, catalogue, locations, options)
    catalogue.close()
    if report.problems or report.remaining:
        sys.exit(f"audit found problems on a clean archive: {report.to_json()}")
    return {**took, "bytes": report.checked_bytes, "files": report.checked_files}


def s3_location(args: argparse.Namespace) -> Location:
    from archive.storage.s3 import S3Location

    return S3Location(S3_NAME, endpoint_url=args.endpoint, bucket=args.bucket, prefix=S3_PREFIX)


def child_boto3(args: argparse.Namespace) -> dict[str, Any]:
    """Plain boto3: get every object of the AIPs and hash it, two at a time (the listing is not timed)."""
    import boto3

    client = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=f"{S3_PREFIX}/aips/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    algorithms = tuple(args.algorithms.split(","))

    def fetch(key: str) -> int:
        hashers = [hashlib.new(a) for a in algorithms]
        body = client.get_object(Bucket=args.bucket, Key=key)["Body"]
        size = 0
        while block := body.read(BLOCK):
            size += len(block)
            for h in hashers:
                h.update(block)
        for h in hashers:
            h.hexdigest()
        return size

    with clock() as took, ThreadPoolExecutor(WORKERS) as pool:
        size = sum(pool.map(fetch, keys))
    return {**took, "bytes": size, "files": len(keys)}


CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "limit": child_limit,
    "bagit": child_bagit,
    "audit": child_audit,
    "boto3": child_boto3,
}


# --- the parent: runs, figures, ratios -------------------------------------------------------


@dataclass
class Run:
    label: str
    seconds: float
    cpu: float
    bytes: int
    files: int
    extra: dict[str, Any]

    @property
    def mb_s(self) -> float:
        return self.bytes / MB / self.seconds


@dataclass(frozen=True)
class Contender:
    label: str
    child: list[str]  # arguments after ``--child``
    warm: list[Path]  # the files whose pages it reads


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def server_cpu(pid: int | None) -> float:
    """CPU seconds the S3 server has used so far (0 without one): it shares the two cores with the client."""
    if pid is None:
        return 0.0
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_once(c: Contender, env: dict[str, str], server: int | None = None) -> Run:
    """One run of one contender in a fresh child process, after a warm-up read of every file it reads."""
    warm(c.warm)
    before, server_before = load(), server_cpu(server)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *c.child]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO, env=env)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["server_cpu"] = server_cpu(server) - server_before
    run = Run(c.label, data.pop("seconds"), data.pop("cpu"), data.pop("bytes"), data.pop("files"), data)
    print(f"  {c.label:60s} {run.seconds:7.2f} s  (load before {before}, after {load()})", flush=True)
    return run


def compare(contenders: list[Contender], repeat: int, server: int | None = None) -> list[Run]:
    """Every contender ``repeat`` times, in rounds so that a change in the machine's load hits all alike; the best
    run of each counts. ``server`` is the pid of an S3 server whose CPU time is reported too."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    best: dict[str, Run] = {}
    for _ in range(repeat):
        for c in contenders:
            run = run_once(c, env, server)
            if c.label not in best or run.seconds < best[c.label].seconds:
                best[c.label] = run
    print()
    extra = f" {'server CPU s':>12s}" if server else ""
    print(f"{'':62s} {'seconds':>8s} {'CPU s':>7s} {'MB/s':>8s} {'files':>7s} {'MB':>6s}{extra}")
    for r in best.values():
        extra = f" {r.extra['server_cpu']:12.2f}" if server else ""
        print(f"{r.label:62s} {r.seconds:8.2f} {r.cpu:7.2f} {r.mb_s:8.1f} {r.files:7d} {r.bytes / MB:6.0f}{extra}")
    return list(best.values())


def target(name: str, value: float, goal: float, what: str, *, at_most: bool = False) -> bool:
    ok = value <= goal if at_most else value >= goal
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {what} = {value:.2f} (target {'≤' if at_most else '≥'} {goal:.2f})")
    return ok


def local_part(home: Path, repeat: int) -> list[bool]:
    paths = bag_files(home)
    print(f"local location: {len(bag_dirs(home))} AIPs, {len(paths)} files, "
          f"{sum(p.stat().st_size for p in paths) / MB:.0f} MB; load {load()}", flush=True)  # fmt: skip
    h = ["--home", str(home)]
    lim_sha, lim_full, peer, sha, full = compare(
        [
            Contender("hashing limit: hashlib sha256, 2 processes", ["limit", "--algorithms", "sha256", *h], paths),
            Contender("hashing limit: hashlib sha256+sm3 one read, 2 processes", ["limit", *h], paths),
            Contender("bagit-python Bag.validate(processes=2), every bag", ["bagit", *h], paths),
            Contender("dangan audit, all=True, algorithms=('sha256',)", ["audit", "--algorithms", "sha256", *h], paths),
            Contender("dangan audit, all=True (sha256 + sm3)", ["audit", *h], paths),
        ],
        repeat,
    )
    checked = ", ".join(peer.extra["algorithms"])
    print(f"bagit-python checked algorithms: {checked} (manifest-sm3.txt and tagmanifest-sm3.txt are never loaded:")
    print("  bagit looks only for manifests named after hashlib.algorithms_guaranteed, which has no sm3)")
    print(f"audit sha256 vs hashing limit sha256: {lim_sha.seconds / sha.seconds:.2f} (for information, no target)")
    # On a shared machine a contender with more runnable threads gets a bigger share of the cores; CPU seconds
    # do not depend on that share, so their ratio is what an idle 2-core machine would show for CPU-bound runs.
    print(f"CPU-time ratios: limit / full audit {lim_full.cpu / full.cpu:.2f}, bagit / sha256 audit "
          f"{peer.cpu / sha.cpu:.2f} (for information)")  # fmt: skip
    return [
        target("SHA-256 audit vs bagit-python", peer.seconds / sha.seconds, 1.0, "bagit time / audit time"),
        target("full audit vs 2-core limit", lim_full.seconds / full.seconds, 0.8, "limit time / audit time"),
    ]


# --- S3 ----------------------------------------------------------------------------------------


def upload(home: Path, endpoint: str, bucket: str) -> None:
    """Copy every AIP into the bucket as the archive itself does (commit_from: verified uploads, a marker)."""
    from archive.storage.s3 import S3Location

    s3 = S3Location(S3_NAME, endpoint_url=endpoint, bucket=bucket, prefix=S3_PREFIX)
    s3.prepare()
    local = FsLocation("local", home / "store")
    keys = list(local.list_keys())
    t = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda key: s3.commit_from(key, local, key, None), keys))
    print(f"uploaded {len(keys)} AIPs to {endpoint}/{bucket} in {time.perf_counter() - t:.0f} s", flush=True)
    if sorted(s3.list_keys()) != keys:
        sys.exit("the bucket does not hold every AIP")


def catalogue_copy(home: Path, work: Path) -> Path:
    """A private copy of the catalogue: the S3 audits record their checks there, not in the cached home."""
    target = work / "catalogue-s3.sqlite"
    src = sqlite3.connect(load_settings(home).catalogue_path)
    dst = sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    return target


def s3_part(home: Path, repeat: int) -> list[bool]:
    """The same audits over a SeaweedFS S3 location, against boto3 download-and-hash of the same objects.

    The server's data is kept in ``bench/out/audit/s3/`` with a note of the archive it
    holds a copy of, so a later run starts the server on it and skips the upload.
    """
    from tests.s3server import CREDENTIALS, WeedServer

    os.environ.update(CREDENTIALS)
    built = json.loads((home / "bench-built.json").read_text())
    note = S3_CACHE / "bench-copied.json"
    fresh = not (note.is_file() and json.loads(note.read_text()) == built)
    if fresh:
        shutil.rmtree(S3_CACHE, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="s3-", dir=OUT))
    server = WeedServer(S3_CACHE / "weed")
    try:
        server.start()
        if fresh:
            upload(home, server.endpoint_url, S3_BUCKET)
            note.write_text(json.dumps(built))
        catalogue = str(catalogue_copy(home, work))
        s3_args = ["--home", str(home), "--endpoint", server.endpoint_url, "--bucket", S3_BUCKET]
        vols = files_under(server.data)  # the server's own files: warm them as the local bags are warmed
        a = ["audit", "--catalogue", catalogue, *s3_args]
        assert server.process is not None
        peer_sha, sha, peer_full, full = compare(
            [
                Contender("boto3 get_object + sha256, 2 threads", ["boto3", "--algorithms", "sha256", *s3_args], vols),
                Contender("dangan audit over S3, algorithms=('sha256',)", [*a, "--algorithms", "sha256"], vols),
                Contender("boto3 get_object + sha256+sm3 one read, 2 threads", ["boto3", *s3_args], vols),
                Contender("dangan audit over S3, all=True (sha256 + sm3)", a, vols),
            ],
            repeat,
            server.process.pid,
        )
        what = "audit time / boto3 time"
        print(f"CPU-time ratios (client only, not the server): audit / boto3 sha256 {sha.cpu / peer_sha.cpu:.2f}, "
              f"full {full.cpu / peer_full.cpu:.2f} (for information)")  # fmt: skip
        return [
            target("S3 SHA-256 audit vs boto3", sha.seconds / peer_sha.seconds, 1.2, what, at_most=True),
            target("S3 full audit vs boto3", full.seconds / peer_full.seconds, 1.2, what, at_most=True),
        ]
    finally:
        server.stop(graceful=True)  # its data is kept for the next run
        shutil.rmtree(work, ignore_errors=True)


def s3_missing() -> str | None:
    """Why the S3 part cannot run here, or None."""
    for part in ("archive/storage/s3.py", "tests/s3server.py"):
        if not (REPO / part).is_file():
            return f"{part} is missing"
    from tests.s3server import weed_binary

    return None if weed_binary().is_file() else f"no weed program at {weed_binary()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per contender; the best counts")
    parser.add_argument("--rebuild", action="store_true", help="build the cached archive again")
    parser.add_argument("--local-only", action="store_true", help="skip the S3 part")
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=OUT / "home", help=argparse.SUPPRESS)
    parser.add_argument("--algorithms", default="sha256,sm3", help=argparse.SUPPRESS)
    parser.add_argument("--catalogue", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # A stopped benchmark still stops its children and its SeaweedFS server (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.child:
        print(json.dumps(CHILDREN[args.child](args)))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    if args.rebuild:
        shutil.rmtree(args.home, ignore_errors=True)
        shutil.rmtree(S3_CACHE, ignore_errors=True)
    build_archive(args.home, args.items)
    print(f"each contender: best of {args.repeat} runs, each after a warm-up read of every file it reads")
    results = local_part(args.home, args.repeat)
    why_not = None if args.local_only else s3_missing()
    if args.local_only or why_not:
        print(f"S3 part not run: {why_not or '--local-only'}")
    else:
        print()
        results += s3_part(args.home, args.repeat)
    print(f"load average at the end: {load()}")
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
