"""Ingest throughput and memory, against bagit-python in the same run.

Default mode: build a born-digital batch of ≥ 2,000 files / ≥ 1 GB (each 件 holds a text
PDF, a JPEG photo, a WAV recording and a UTF-8 note), ingest it with dangan (a real
`dangan ingest` process), and run bagit-python ``make_bag(checksums=['sha256', 'sm3'],
processes=2)`` on a copy of the same files. Prints files/s, MB/s and the ratio. Two more
peers in the same run show what the machine allows: a plain copy flushed to disk, and the least
any ingest that keeps its own verified copy must do (copy while taking both digests, read the
copy back, flush; on both cores, no checks).

``--big``: one 2 GB file through `dangan ingest` and through make_bag, each in its own
process; prints each one's peak RSS.

    .venv/bin/python bench/ingest.py [--items 540] [--workdir DIR] [--big]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pikepdf
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from archive.fixity import copy_and_hash, hash_file, make_tree_durable  # noqa: E402

MB = 1024 * 1024


def wav_bytes(rng: random.Random, seconds: float) -> bytes:
    """A 16-bit mono 44.1 kHz WAV of noise."""
    n = int(44100 * seconds)
    pcm = rng.randbytes(n * 2)
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(pcm))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16)
    )
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm


def jpeg_bytes(rng: random.Random) -> bytes:
    noise = Image.frombytes("L", (400, 300), rng.randbytes(400 * 300)).resize((1000, 750))
    im = Image.merge("RGB", (noise, noise.rotate(90, expand=False), noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def pdf_bytes(n: int, text: str) -> bytes:
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    for page_no in range(3):
        lines = "".join(f"BT /F1 10 Tf 50 {780 - 14 * i} Td ({text} {n}-{page_no}-{i}) Tj ET\n" for i in range(50))
        page = pdf.add_blank_page(page_size=(595, 842))
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        page.Contents = pdf.make_stream(lines.encode())
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def make_batch(root: Path, items: int) -> tuple[int, int]:
    rng = random.Random(20261122)
    note = "居委会工作记录。本件为基准测试生成的虚构文本，用于测量归档吞吐量。\n" * 300
    files = size = 0
    for n in range(items):
        item = root / f"件{n:04d}"
        item.mkdir(parents=True)
        parts = {
            "正文.pdf": pdf_bytes(n, "Residents committee meeting minutes"),
            "照片.jpg": jpeg_bytes(rng),
            "录音.wav": wav_bytes(rng, 16 + rng.random() * 2),
            "说明.txt": f"{n}\n{note}".encode(),
        }
        for name, data in parts.items():
            (item / name).write_bytes(data)
            files += 1
            size += len(data)
    return files, size


_MEASURE = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode;"
    " u = resource.getrusage(resource.RUSAGE_CHILDREN); print(u.ru_maxrss, u.ru_utime + u.ru_stime); sys.exit(rc)"
)


def timed(cmd: list[str]) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system, every process it started) of
    one command, measured by a fresh wrapper process."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], check=True, capture_output=True, cwd=REPO, text=True)
    rss, cpu = out.stdout.split()[-2:]
    return time.perf_counter() - t, int(rss), float(cpu)


def dangan(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dangan", "--home", str(home), *args]


def ingest_cmd(home: Path, src: Path, category: str) -> list[str]:
    """A born-digital ingest of ``src`` (bare-folder mode: one 件 per subfolder)."""
    meta = ("--year", "2023", "--retention", "D10", "--carrier", "电子", "--author", "基准测试", "--date", "20230101")
    return dangan(home, "ingest", str(src), "--category", category, *meta)


def make_bag_cmd(bag_dir: Path) -> list[str]:
    code = "import bagit,sys; bagit.make_bag(sys.argv[1], checksums=['sha256', 'sm3'], processes=2)"
    return [sys.executable, "-c", code, str(bag_dir)]


def init_home(home: Path) -> None:
    subprocess.run(
        # one location, one copy: the peer (make_bag) writes one bag too
        dangan(
            home, "init", "--fonds-code", "J012", "--fonds-name", "基准测试社区居民委员会", "--storage", "local=store"
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def throughput(work: Path, items: int) -> None:
    src = work / "batch"
    files, size = make_batch(src, items)
    print(f"batch: {items} 件, {files} files, {size / MB:.0f} MB")
    bag_dir = work / "bag"
    shutil.copytree(src, bag_dir)
    t_bag, _, cpu_bag = timed(make_bag_cmd(bag_dir))
    t_copy, cpu_copy = durable_copy(src, work / "plain-copy")
    t_floor, _, cpu_floor = timed([sys.executable, __file__, "--floor-copy", str(src), str(work / "floor-copy")])
    home = work / "home"
    init_home(home)
    t_dangan, _, cpu_dangan = timed(ingest_cmd(home, src, "WS"))
    rows = (
        ("bagit-python make_bag sha256+sm3, processes=2 (files bagged in place)", t_bag, cpu_bag),
        ("plain copy of the same files, flushed to disk (no digests, no checks)", t_copy, cpu_copy),
        ("copy + sha256+sm3 + read-back sha256, 2 processes, flushed (no checks)", t_floor, cpu_floor),
        ("dangan ingest (copy, sha256+sm3, checks, metadata, AIP per 件)", t_dangan, cpu_dangan),
    )
    for label, t, cpu in rows:
        print(f"{label:72s} {t:7.1f} s  {files / t:7.1f} files/s  {size / MB / t:7.1f} MB/s  CPU {cpu:6.1f} s")
    print(f"ratio dangan/make_bag throughput: {t_bag / t_dangan:.2f}")
    print(f"ratio dangan/plain durable copy throughput: {t_copy / t_dangan:.2f}")
    print(f"ratio dangan/copy+digests+read-back throughput: {t_floor / t_dangan:.2f}")
    print(f"ratio copy+digests+read-back/make_bag throughput: {t_bag / t_floor:.2f} (all that copying allows)")
    # With every core busy, wall time cannot fall below the CPU work divided by the cores.
    cores = os.cpu_count() or 1
    print(
        f"CPU work: dangan {cpu_dangan:.1f} s, make_bag {cpu_bag:.1f} s ({cpu_dangan / cpu_bag:.1f}x); "
        f"on {cores} cores dangan's floor is {cpu_dangan / cores:.1f} s, its wall time {t_dangan:.1f} s"
    )


def durable_copy(src: Path, dest: Path) -> tuple[float, float]:
    """The floor for any ingest that copies: the bytes copied and flushed, nothing else (wall and CPU seconds)."""
    t, c = time.perf_counter(), os.times()
    shutil.copytree(src, dest)
    make_tree_durable(dest)
    c2 = os.times()
    return time.perf_counter() - t, (c2.user - c.user) + (c2.system - c.system)


def _copy_verify_one(pair: tuple[str, str]) -> int:
    src, dest = Path(pair[0]), Path(pair[1])
    size, digests = copy_and_hash(src, dest)
    if hash_file(dest, ("sha256",))[1]["sha256"] != digests["sha256"]:
        raise OSError(f"read-back differs: {dest}")
    return size


def floor_copy(src: Path, dest: Path) -> None:
    """The least an ingest that keeps its own copy must do, on both cores: copy each file while
    taking SHA-256 and SM3 in one pass, read the copy back for SHA-256, flush. No checks, no
    metadata, no bag: an ingest can go no faster than this on this machine."""
    pairs = [(str(p), str(dest / p.relative_to(src))) for p in sorted(src.rglob("*")) if p.is_file()]
    for parent in {Path(d).parent for _, d in pairs}:
        parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as pool:
        sum(pool.map(_copy_verify_one, pairs, chunksize=8))
    make_tree_durable(dest)


def big(work: Path, gigabytes: float) -> None:
    src = work / "big"
    src.mkdir()
    target = src / "录像.wav"
    rng = random.Random(7)
    n = int(gigabytes * 1024 * MB)
    with open(target, "wb") as f:
        f.write(
            b"RIFF" + struct.pack("<I", n + 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 44100, 88200, 2, 16)
        )
        f.write(b"data" + struct.pack("<I", n))
        block = rng.randbytes(8 * MB)
        for _ in range(n // len(block)):
            f.write(block)
    size = target.stat().st_size
    bag_dir = work / "bigbag"
    shutil.copytree(src, bag_dir)
    t_bag, rss_bag, _ = timed(make_bag_cmd(bag_dir))
    shutil.rmtree(bag_dir)
    home = work / "home-big"
    init_home(home)
    t_dangan, rss_dangan, _ = timed(ingest_cmd(home, src, "LY"))
    print(f"one file of {size / MB:.0f} MB")
    print(f"bagit-python make_bag: {t_bag:6.1f} s  peak RSS {rss_bag / 1024:6.0f} MB")
    print(f"dangan ingest:         {t_dangan:6.1f} s  peak RSS {rss_dangan / 1024:6.0f} MB  (target < 300 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=540)
    parser.add_argument("--big", action="store_true")
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--floor-copy", nargs=2, type=Path, metavar=("SRC", "DEST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_copy:
        floor_copy(*args.floor_copy)
        return
    work = Path(tempfile.mkdtemp(prefix="dangan-bench-", dir=args.workdir))
    try:
        big(work, args.gigabytes) if args.big else throughput(work, args.items)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONPATH", str(REPO))
    main()
