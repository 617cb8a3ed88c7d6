"""recall@10 on a labelled query set: does a searcher find the records a query is about?

``bench/labelled_queries.toml`` holds records written for it and, per query, the records that
must come back (simplified and traditional, full-width forms, synonyms, personal names,
phrases, an 档号 prefix). They are indexed among ``--background`` generated records (the
generator of ``bench/search.py``, whose records are about the same community affairs), so a
labelled record has to be ranked into the first ten against many others that match too.

recall@10 of a query = the share of its relevant records among its first ten hits; the
figure reported is the mean over queries. The embedded index is measured by default;
``--es URL`` measures an Elasticsearch cluster through the same interface.

    .venv/bin/python bench/recall.py [--background 20000] [--es http://localhost:9200]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search import Query, SearchDoc, SearchIndex, open_index  # noqa: E402

LABELLED = Path(__file__).with_name("labelled_queries.toml")
FONDS = "J020"
CATEGORY, RETENTION = "WS", "D30"


def _generator(seed: int):
    # bench/search.py by path: this folder's search.py would shadow the search package as a module name
    spec = importlib.util.spec_from_file_location("bench_search", Path(__file__).with_name("search.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Generator(seed), frozenset(module.FONDS)


def labelled_docs(records: list[dict]) -> dict[str, SearchDoc]:
    """The labelled records as search documents, keyed by their key (R01 …)."""
    docs = {}
    for r in records:
        number = int(r["key"].lstrip("R"))
        code = f"{FONDS}-{CATEGORY}·{r['year']}-{RETENTION}-{number:04d}"
        docs[r["key"]] = SearchDoc(
            code, FONDS, r["year"], CATEGORY, RETENTION, r["title"], f"{r['year']}0101", r["meta"], r["body"]
        )
    return docs


def recall_at_10(index: SearchIndex, queries: list[dict], docs: dict[str, SearchDoc], visible: frozenset[str]):
    """Per query: (text, recall, the relevant keys missed)."""
    key_of = {d.archival_code: k for k, d in docs.items()}
    for q in queries:
        hits = index.search(Query(q["text"], visible, limit=10)).hits
        found = {key_of.get(h.archival_code) for h in hits}
        missed = [k for k in q["relevant"] if k not in found]
        yield q["text"], 1 - len(missed) / len(q["relevant"]), missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--background", type=int, default=20_000, help="generated records around the labelled ones")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--es", metavar="URL", help="measure Elasticsearch at URL instead of the embedded index")
    args = parser.parse_args()
    data = tomllib.loads(LABELLED.read_text(encoding="utf-8"))
    docs = labelled_docs(data["record"])
    generator, background_fonds = _generator(args.seed)
    visible = background_fonds | {FONDS}
    with tempfile.TemporaryDirectory(prefix="dangan-recall-") as tmp:
        if args.es:
            index = open_index("elasticsearch", url=args.es, index_prefix="dangan-recall-bench")
        else:
            index = open_index("sqlite", path=Path(tmp) / "search.db")

        def everything() -> Iterator[SearchDoc]:
            yield from docs.values()
            yield from generator.docs(args.background)

        index.rebuild(everything())
        rows = list(recall_at_10(index, data["query"], docs, visible))
        index.close()
    backend = f"Elasticsearch {args.es}" if args.es else "SQLite FTS5"
    print(f"{backend}: {len(docs)} labelled records among {args.background:,} generated ones")
    for text, recall, missed in rows:
        note = f"  missed {', '.join(missed)}" if missed else ""
        print(f"  {text:<24}{recall:>6.0%}{note}")
    mean = sum(r for _, r, _ in rows) / len(rows)
    print(f"recall@10 over {len(rows)} queries: {mean:.1%}")


if __name__ == "__main__":
    main()
