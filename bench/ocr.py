"""OCR accuracy and speed: every engine over the same rendered scans, in the same run.

Pages are the invented community records of ``tests/render.py`` (``SAMPLE_DOCS``), set in
Noto Sans CJK on A4 in grey: in simplified characters with the SC glyph forms, and
converted to traditional ones with OpenCC's Taiwan standard (``s2tw``: 為 群 啟 核, as
traditional documents write them, not OpenCC's older 爲 羣 啓 覈) set with the TC forms,
as a traditional document is typeset. Each script goes under several scan conditions
(clean at 300 and 200 dpi, dust, skew, blur, and all three at 200 dpi). The renderer keeps each page's ground truth.

Per engine and condition it prints the character error rate (CER: Levenshtein edits over
the ground truth's characters, whitespace removed and both sides NFKC-folded so that
full- and half-width punctuation count as the same) and pages per minute with one
thread. A second table runs the same pages with one process × one thread, one process ×
two threads, and two worker processes × one thread each (as the ingest workers do), for
the first variant of each engine, to show the throughput on both cores. It ends with a
recommendation for the default engine. Timings assume an otherwise idle machine: the load
average is printed before and after.

    .venv/bin/python bench/ocr.py [--pages 2] [--engines tesseract:chi_sim,rapidocr] [--no-throughput]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ingest.ocr import OcrEngine, RapidOcrEngine, ScriptAwareEngine, TesseractEngine  # noqa: E402
from search.text import converter  # noqa: E402
from tests.render import SAMPLE_DOCS, render_page  # noqa: E402

DEFAULT_ENGINES = "tesseract:chi_sim,tesseract:chi_tra,rapidocr,auto"


@dataclass(frozen=True)
class Condition:
    """One way a page was scanned (扫描条件)."""

    name: str
    dpi: int
    noise: float = 0.0
    skew_deg: float = 0.0
    blur: float = 0.0


CONDITIONS = (
    Condition("clean-300", 300),
    Condition("clean-200", 200),
    Condition("dust-300", 300, noise=0.004),
    Condition("skew-300", 300, skew_deg=1.5),
    Condition("blur-300", 300, blur=1.6),
    Condition("worn-200", 200, noise=0.003, skew_deg=1.0, blur=0.8),
)


@dataclass
class Score:
    """Edits, ground-truth characters and seconds, summed over pages."""

    edits: int = 0
    chars: int = 0
    seconds: float = 0.0
    pages: int = 0

    def add(self, edits: int, chars: int, seconds: float) -> None:
        self.edits, self.chars, self.seconds, self.pages = (
            self.edits + edits,
            self.chars + chars,
            self.seconds + seconds,
            self.pages + 1,
        )

    @property
    def cer(self) -> float:
        return self.edits / max(1, self.chars)

    @property
    def per_minute(self) -> float:
        return 60 * self.pages / self.seconds if self.seconds else 0.0


@dataclass
class Table:
    """Scores per (engine, script, condition)."""

    scores: dict[tuple[str, str, str], Score] = field(default_factory=dict)

    def score(self, engine: str, script: str, condition: str) -> Score:
        return self.scores.setdefault((engine, script, condition), Score())

    def total(self, engine: str, script: str | None = None) -> Score:
        out = Score()
        for (name, scr, _), s in self.scores.items():
            if name == engine and script in (None, scr):
                out.edits, out.chars, out.seconds, out.pages = (
                    out.edits + s.edits,
                    out.chars + s.chars,
                    out.seconds + s.seconds,
                    out.pages + s.pages,
                )
        return out


# --- metric ---------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """What the CER compares: NFKC-folded (：→:, （→(), whitespace removed."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insert, delete, substitute), two rows of memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(truth: str, found: str) -> tuple[int, int]:
    """(edits, ground-truth characters) after :func:`normalise`."""
    t, f = normalise(truth), normalise(found)
    return levenshtein(t, f), len(t)


# --- pages and engines ----------------------------------------------------------------------


def traditional(text: str) -> str:
    """Simplified → traditional with OpenCC's Taiwan standard (s2tw)."""
    return converter("s2tw").convert(text)


def render(pages: int) -> dict[tuple[str, str], list[Image.Image]]:
    """Pages per (script, condition): the first ``pages`` sample records, each on one A4 page."""
    docs = [SAMPLE_DOCS[i % len(SAMPLE_DOCS)].text for i in range(pages)]
    scripts = {"简体": (docs, "SC"), "繁體": ([traditional(d) for d in docs], "TC")}
    out = {}
    for script, (texts, region) in scripts.items():
        for cond in CONDITIONS:
            out[(script, cond.name)] = [
                render_page(
                    text,
                    dpi=cond.dpi,
                    mode="L",
                    noise=cond.noise,
                    skew_deg=cond.skew_deg,
                    blur=cond.blur,
                    seed=n,
                    region=region,
                )
                for n, text in enumerate(texts)
            ]
    return out


def make_engine(spec: str, threads: int = 1) -> OcrEngine:
    """``tesseract:LANGS`` (traineddata joined by ``+``), ``rapidocr`` or ``auto``."""
    name, _, option = spec.partition(":")
    if name == "tesseract":
        return TesseractEngine(option or "chi_sim", threads=threads)
    if name == "rapidocr":
        return RapidOcrEngine(threads=threads)
    if name == "auto":
        return ScriptAwareEngine(threads=threads)
    raise SystemExit(f"unknown engine {spec!r}")


def accuracy(specs: list[str], pages: dict[tuple[str, str], list[Image.Image]]) -> Table:
    """Every engine over every page, one thread each; pages are interleaved so drift hits all alike."""
    engines = {spec: make_engine(spec) for spec in specs}
    for engine in engines.values():  # sessions and models loaded before the clock starts
        engine.recognize(next(iter(pages.values()))[0])
    table = Table()
    for (script, condition), images in pages.items():
        for image in images:
            for spec, engine in engines.items():
                start = time.perf_counter()
                found = engine.recognize(image).text
                seconds = time.perf_counter() - start
                table.score(spec, script, condition).add(*cer(image.info["ground_truth"], found), seconds)
        print(f"  {script} {condition} done", file=sys.stderr)
    return table


# --- throughput on both cores ---------------------------------------------------------------

_WORKER_ENGINE: OcrEngine | None = None


def _worker_start(spec: str, warmup: Image.Image) -> None:
    global _WORKER_ENGINE
    _WORKER_ENGINE = make_engine(spec, threads=1)
    _WORKER_ENGINE.recognize(warmup)


def _worker_page(image: Image.Image) -> int:
    assert _WORKER_ENGINE is not None
    return len(_WORKER_ENGINE.recognize(image).text)


def throughput(spec: str, images: list[Image.Image]) -> dict[str, float]:
    """Pages/min: 1 process × 1 thread, 1 process × 2 threads, 2 processes × 1 thread."""
    out = {}
    for threads in (1, 2):
        engine = make_engine(spec, threads=threads)
        engine.recognize(images[0])
        start = time.perf_counter()
        for image in images:
            engine.recognize(image)
        out[f"1 proc × {threads} thr"] = 60 * len(images) / (time.perf_counter() - start)
    context = multiprocessing.get_context("fork")  # as the ingest workers are made
    with ProcessPoolExecutor(2, mp_context=context, initializer=_worker_start, initargs=(spec, images[0])) as pool:
        list(pool.map(_worker_page, images[:2]))  # both workers up and warm
        start = time.perf_counter()
        list(pool.map(_worker_page, images))
        out["2 proc × 1 thr"] = 60 * len(images) / (time.perf_counter() - start)
    return out


# --- report ---------------------------------------------------------------------------------


def print_accuracy(table: Table, specs: list[str], pages: dict[tuple[str, str], list[Image.Image]]) -> None:
    width = max(len(s) for s in specs)
    print("\nCER (lower is better) and pages/min, one thread per engine")
    print(f"{'script':6} {'condition':10} " + " ".join(f"{s:>{width}} {'p/min':>6}" for s in specs))
    for script, condition in pages:
        cells = []
        for spec in specs:
            s = table.score(spec, script, condition)
            cells.append(f"{s.cer:>{width}.1%} {s.per_minute:>6.1f}")
        print(f"{script:6} {condition:10} " + " ".join(cells))
    for script in ("简体", "繁體", None):
        cells = []
        for spec in specs:
            s = table.total(spec, script)
            cells.append(f"{s.cer:>{width}.1%} {s.per_minute:>6.1f}")
        print(f"{script or '全部':6} {'all':10} " + " ".join(cells))


def recommend(table: Table, specs: list[str]) -> str:
    """The most accurate engine overall, with its speed next to the fastest one."""
    totals = {spec: table.total(spec) for spec in specs}
    best = min(specs, key=lambda s: totals[s].cer)
    fastest = max(specs, key=lambda s: totals[s].per_minute)
    b, f = totals[best], totals[fastest]
    line = f"Recommendation / 建议: default engine {best} (CER {b.cer:.1%}, {b.per_minute:.1f} pages/min per core)"
    if fastest != best:
        line += (
            f"; {fastest} is {f.per_minute / max(b.per_minute, 1e-9):.1f}× faster but its CER is {f.cer:.1%}"
            f" (简体 {table.total(fastest, '简体').cer:.1%}, 繁體 {table.total(fastest, '繁體').cer:.1%})"
        )
    return line


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2, help="pages per script and condition (default 2)")
    parser.add_argument("--engines", default=DEFAULT_ENGINES, help=f"comma-separated (default {DEFAULT_ENGINES})")
    parser.add_argument("--throughput-pages", type=int, default=6, help="pages for the two-core table")
    parser.add_argument("--no-throughput", action="store_true", help="skip the two-core table")
    args = parser.parse_args()
    specs = [s.strip() for s in args.engines.split(",") if s.strip()]
    started = time.perf_counter()
    print(f"load average before: {load()} on {os.cpu_count()} cores (timings assume an otherwise idle machine)")
    pages = render(args.pages)
    print(f"rendered {sum(len(v) for v in pages.values())} A4 pages in {time.perf_counter() - started:.0f} s")
    for spec in specs:
        engine = make_engine(spec)
        print(f"{spec}: {engine.version()} {engine.settings}")
    table = accuracy(specs, pages)
    print_accuracy(table, specs, pages)
    if not args.no_throughput:
        images = [im for (script, cond), ims in pages.items() if cond == "clean-300" for im in ims]
        images = (images * args.throughput_pages)[: args.throughput_pages]
        print(f"\nThroughput on 2 cores, {len(images)} clean 300 dpi pages (pages/min)")
        first_per_engine = {s.partition(":")[0]: s for s in reversed(specs)}
        for spec in reversed(first_per_engine.values()):
            rates = throughput(spec, images)
            print(f"{spec:32} " + "  ".join(f"{k}: {v:5.1f}" for k, v in rates.items()))
    print("\n" + recommend(table, specs))
    print(f"(whole run {time.perf_counter() - started:.0f} s; load average now {load()})")


if __name__ == "__main__":
    main()
