"""移交与接收 throughput: prepare and receive of a ≥ 1 GB package, against a copy + ``dangan validate``.

Builds once (cached in ``bench/out/transfer/``) a community home of ``--items`` born-digital 件
of 年度 2020, 定期30年 (so due for transfer), by a real in-process ingest of the items
``bench/audit.py`` generates (a text PDF, a JPEG photo and a WAV recording each, about
1.1 MB; OCR off, one local location). Then, in rounds, each contender in a fresh child
process, timing wall clock and CPU and reading the peak RSS of the process and of its
worker processes:

- ``prepare``: :func:`disposition.transfer.prepare_transfer` of every due record into a new
  package (every AIP file streamed from storage, checked against the catalogue and digested
  with SHA-256 and SM3 in one read, each file fsync'ed; registers; manifests).
- ``receive``: :func:`disposition.transfer.receive_transfer` of that package into a fresh town
  home with one local location and a copy policy of one copy, the same one copy the peer
  makes. Its phases are timed apart: the checks (both digests of every byte, every AIP's
  bag and metadata, every payload file decoded in 2 worker processes) and the store (copy,
  fsync, SHA-256 read-back, commit, index, PREMIS event per AIP).
- the peer, as the issue states it: a plain copy of the same bytes (``shutil.copytree`` of the
  package, which uses ``sendfile``; nothing is fsync'ed), then ``dangan validate`` of each AIP
  in the copy. ``dangan validate DIR`` is :func:`archive.validate.validate_path`, called here
  once per AIP in the one child process, not as 1,000 ``dangan`` processes whose start-up
  would swamp the figure: the BagIt structure, Payload-Oxum, SHA-256 and SM3 of every file,
  and the DA/T 46 ``item.xml`` against its XSD. It decodes nothing and checks no catalogue.
  Both ratios (prepare / peer, receive / peer) are against this one peer: prepare reads the
  same AIP bytes from the store that the peer reads from the package.
- for information, the hashing limit: SHA-256 + SM3 of every package byte in one process,
  one read (what the outer fixity check alone must cost).

Before each contender the parent reads its input once, so each starts from the same warm
page cache. With ``--s3`` one more receive goes into a town whose second location is a
SeaweedFS bucket (``tests/s3server.py``) under Object Lock, with a copy policy of two.

    .venv/bin/python bench/transfer.py [--items 1000] [--repeat 1] [--s3] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # before bench/ itself, whose ingest.py would shadow the ingest package

from archive.catalogue import Catalogue  # noqa: E402
from archive.config import StorageConfig, init_home, load_settings  # noqa: E402
from archive.storage import prepare_locations  # noqa: E402
from bench.audit import build_archive, files_under, warm  # noqa: E402

MB = 1024 * 1024
OUT = REPO / "bench" / "out" / "transfer"
YEAR, RETENTION = 2020, "D30"  # due since 1 January 2025 (the 5th year after 年度)


def town_home(path: Path, storage: tuple[StorageConfig, ...], copies: int) -> None:
    """A town home holding the benchmark's fonds, with ``copies`` copies of every record."""
    from archive.config import Fonds

    init_home(
        path,
        Fonds("J012", "基准测试社区居民委员会"),
        storage=storage,
        ingest={"ocr": "off"},
        copies={"default": copies, "Y": copies},
    )
    prepare_locations(load_settings(path))


# --- contenders, each in its own child process -----------------------------------------------------


def _usage() -> dict[str, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "cpu": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
        "rss_mb": me.ru_maxrss / 1024,  # Linux: KiB
        "child_rss_mb": kids.ru_maxrss / 1024,  # the largest worker (or cp) this process waited for
    }


def child_prepare(args: argparse.Namespace) -> dict[str, Any]:
    from disposition.transfer import prepare_transfer

    settings = load_settings(args.home)
    catalogue = Catalogue(settings.catalogue_path)
    started = time.perf_counter()
    result = prepare_transfer(settings, catalogue, args.package)
    seconds = time.perf_counter() - started
    catalogue.close()
    return {"seconds": seconds, "bytes": result.bytes, "files": result.files, **_usage()}


def child_receive(args: argparse.Namespace) -> dict[str, Any]:
    from disposition.transfer import receive_transfer

    settings = load_settings(args.home)
    catalogue = Catalogue(settings.catalogue_path)
    marks = [("start", time.perf_counter())]

    def stage(name: str) -> None:
        marks.append((name, time.perf_counter()))

    result = receive_transfer(settings, catalogue, args.package, on_stage=stage)
    marks.append(("end", time.perf_counter()))
    catalogue.close()
    if result.status != "received":
        sys.exit(f"receive did not succeed: {json.dumps(result.to_json(), ensure_ascii=False)[:2000]}")
    phases = {name: round(marks[i + 1][1] - at, 2) for i, (name, at) in enumerate(marks[:-1])}
    size = sum(p.stat().st_size for p in files_under(args.package))
    return {"seconds": marks[-1][1] - marks[0][1], "bytes": size, "files": len(files_under(args.package)),
            "phases": phases, **_usage()}  # fmt: skip


def child_peer(args: argparse.Namespace) -> dict[str, Any]:
    """A plain copy of the package, then ``dangan validate`` (its library function) of each AIP in the copy."""
    from archive.validate import validate_path

    started = time.perf_counter()
    shutil.copytree(args.package, args.copy, symlinks=True)
    copied = time.perf_counter()
    aips = sorted(p.parent for p in (args.copy / "data" / "电子档案").glob("*/*/*/bagit.txt"))
    invalid = [str(p) for p in aips if not validate_path(p).valid]
    done = time.perf_counter()
    if invalid or not aips:
        sys.exit(f"dangan validate failed on {len(invalid)} of {len(aips)} AIPs: {invalid[:5]}")
    size = sum(p.stat().st_size for p in files_under(args.copy))
    phases = {"copy": round(copied - started, 2), "validate": round(done - copied, 2)}
    return {"seconds": done - started, "bytes": size, "files": len(files_under(args.copy)), "aips": len(aips),
            "phases": phases, **_usage()}  # fmt: skip


def child_limit(args: argparse.Namespace) -> dict[str, Any]:
    """SHA-256 and SM3 of every file of the package, fed from one read, one process."""
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    started = time.perf_counter()
    total, paths = 0, files_under(args.package)
    for p in paths:
        hashers = [hashlib.sha256(), hashlib.new("sm3")]
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                total += n
                for h in hashers:
                    h.update(view[:n])
    return {"seconds": time.perf_counter() - started, "bytes": total, "files": len(paths), **_usage()}


CHILDREN = {"prepare": child_prepare, "receive": child_receive, "peer": child_peer, "limit": child_limit}


# --- the parent -----------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    data: dict[str, Any]

    @property
    def seconds(self) -> float:
        return float(self.data["seconds"])

    @property
    def mb_s(self) -> float:
        return self.data["bytes"] / MB / self.seconds


def run_child(label: str, argv: list[str], warm_paths: list[Path]) -> Run:
    warm(warm_paths)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *argv]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO, env=env)
    run = Run(label, json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"  {label:48s} {run.seconds:8.2f} s  {run.data.get('phases', '')}", flush=True)
    return run


def one_round(community: Path, work: Path, s3: Any) -> list[Run]:
    """Prepare, then receive the package and run the peer on it, all from fresh folders."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    package, town, copy = work / "package", work / "town", work / "copy"
    store = files_under(community / "store")
    runs = [run_child("prepare (dangan transfer prepare)", ["prepare", str(community), str(package)], store)]
    package_files = files_under(package)
    town_home(town, (StorageConfig("local", "fs", {"path": "store"}),), copies=1)
    runs.append(run_child("receive, one local location", ["receive", str(town), str(package)], package_files))
    runs.append(run_child("peer: copy + dangan validate of each AIP", ["peer", str(package), str(copy)], package_files))
    runs.append(run_child("limit: sha256+sm3 one read, 1 process", ["limit", str(package)], package_files))
    if s3 is not None:
        server, bucket = s3
        storage = (StorageConfig("local", "fs", {"path": "store"}),
                   StorageConfig("offsite", "s3", {"endpoint_url": server.endpoint_url, "bucket": bucket}))  # fmt: skip
        town_home(work / "town-s3", storage, copies=2)
        argv = ["receive", str(work / "town-s3"), str(package)]
        runs.append(run_child("receive, local + SeaweedFS S3 (2 copies)", argv, package_files))
    return runs


def report(rounds: list[list[Run]]) -> None:
    best: dict[str, Run] = {}
    for runs in rounds:
        for r in runs:
            if r.label not in best or r.seconds < best[r.label].seconds:
                best[r.label] = r
    print()
    print(f"{'best of ' + str(len(rounds)):48s} {'seconds':>8s} {'CPU s':>7s} {'MB/s':>7s} {'files':>6s} {'MB':>6s} "
          f"{'RSS MB':>7s} {'worker':>7s}")  # fmt: skip
    for r in best.values():
        d = r.data
        print(f"{r.label:48s} {r.seconds:8.2f} {d['cpu']:7.1f} {r.mb_s:7.1f} {d['files']:6d} {d['bytes'] / MB:6.0f} "
              f"{d['rss_mb']:7.0f} {d['child_rss_mb']:7.0f}")  # fmt: skip
    prepare, receive, peer, limit = (best[k] for k in list(best)[:4])
    print()
    for step in (receive, peer):
        for phase, seconds in step.data["phases"].items():
            if seconds <= 0:
                continue  # receive's "start": opening the locations, before the checks begin
            name = f"{step.label.split(',')[0].split(':')[0]}: {phase}"
            print(f"{name:48s} {seconds:8.2f} s {step.data['bytes'] / MB / seconds:7.1f} MB/s")
    print()
    print("peer: shutil.copytree (no fsync), then archive.validate.validate_path, what `dangan validate DIR` calls,")
    print(f"      in one process on each of {peer.data['aips']} AIPs (SHA-256 + SM3 of each file; item.xml vs XSD)")
    print(f"ratio prepare / peer (copy + dangan validate):  {prepare.seconds / peer.seconds:.2f}")
    print(f"ratio receive / peer (copy + dangan validate):  {receive.seconds / peer.seconds:.2f}")
    print(f"ratio receive checks / hashing limit (sha256+sm3): "
          f"{receive.data['phases']['check'] / limit.seconds:.2f}")  # fmt: skip
    for r in best.values():
        if "S3" in r.label:
            print(f"ratio receive with S3 / receive local only:     {r.seconds / receive.seconds:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--s3", action="store_true", help="also receive into a town with a SeaweedFS location")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached community home")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *paths = args.child
        names = {"prepare": ("home", "package"), "receive": ("home", "package"), "peer": ("package", "copy"),
                 "limit": ("package",)}[kind]  # fmt: skip
        ns = argparse.Namespace(**{n: Path(p) for n, p in zip(names, paths, strict=True)})
        print(json.dumps(CHILDREN[kind](ns)))
        return
    community = OUT / "community"
    if args.rebuild:
        shutil.rmtree(community, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    build_archive(community, args.items, year=YEAR, retention=RETENTION, ocr="off")
    size = sum(p.stat().st_size for p in files_under(community / "store"))
    print(f"community home: {args.items} 件, {size / MB:.0f} MB in store; cores {os.cpu_count()}", flush=True)
    print(f"load average at start (1, 5, 15 min): {_load()}", flush=True)
    s3 = _start_s3() if args.s3 else None
    try:
        rounds = [one_round(community, OUT / "work", s3) for _ in range(args.repeat)]
    finally:
        if s3 is not None:
            s3[0].close()
        shutil.rmtree(OUT / "work", ignore_errors=True)
    report(rounds)
    print(f"load average at end (1, 5, 15 min): {_load()}")


def _load() -> str:
    """Other work on the machine skews every figure: the load average is printed with them."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _start_s3() -> tuple[Any, str]:
    from tests.s3server import CREDENTIALS, WeedServer

    os.environ.update(CREDENTIALS)  # the child processes inherit them
    server = WeedServer(OUT / "weed")
    server.start()
    return server, server.new_bucket(object_lock=True)


if __name__ == "__main__":
    main()
