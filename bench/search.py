"""Search speed and size: the embedded FTS5 index against a naive LIKE scan, in the same run.

Generates ``--items`` (default 100,000) community-archive records with a fixed seed: titles
such as 关于…的通知/请示/报告, bodies from a community-affairs vocabulary running from none (a
title only) to several pages, about 5 % in traditional characters, many with 低保 and 档案.
Builds the FTS5 index (:class:`search.fts.FtsIndex`) and prints the build rate and peak RSS,
then query latency p50/p95 for a mix (two-character words, phrases, filters, broad faceted
words, 档号 prefixes), beside the same questions answered by ``LIKE '%q%'`` over the same
texts in an ordinary SQLite table, with the ratio. Wall-clock and CPU times are both printed,
with the load average: other jobs on the machine inflate the first, and the index's helper
threads (a search counts and ranks on two cores) make the second exceed it.

The texts and the index are kept in ``bench/out/search-N-SEED`` (gitignored): a second run
reuses the texts and rebuilds the index (so the build rate is measured again); ``--reuse``
queries the kept index too, unless its schema is older than the code's.

``--compare`` instead measures the tokenisation candidates on ``--compare-items`` records:
Python bigrams (the choice), unigram phrases, FTS5 ``trigram`` and jieba segmentation:
recall of two- and four-character queries, index size, build time and query time.

    .venv/bin/python bench/search.py [--items 100000] [--workdir DIR] [--reuse] [--detail]
    .venv/bin/python bench/search.py --compare [--compare-items 10000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from search import Query, SearchDoc  # noqa: E402
from search.fts import SCHEMA_VERSION, FtsIndex  # noqa: E402
from search.text import fold, index_tokens, query_tokens, runs  # noqa: E402

SUBJECTS = (
    "低保 最低生活保障 城乡低保 特困人员救助供养 临时救助 医疗救助 残疾人两项补贴 高龄津贴 养老服务 居家养老 "
    "老年人助餐 计划生育 计生 独生子女奖励 流动人口 人口普查 居民委员会换届选举 居务公开 民主评议 矛盾纠纷调解 "
    "社区矫正 安置帮教 社会治安综合治理 网格化管理 消防安全 安全生产 防汛防台 疫情防控 爱国卫生运动 垃圾分类 "
    "环境卫生整治 老旧小区改造 加装电梯 物业管理 业主委员会 停车管理 文明城市创建 志愿服务 新时代文明实践 党建工作 "
    "党员发展 三会一课 主题党日 退役军人服务 优抚 拥军优属 妇女儿童权益保护 留守儿童关爱 青少年暑期活动 就业援助 "
    "失业登记 社会保险 医疗保险 城乡居民养老保险 档案管理 档案整理 文书档案 会计档案 财务收支 办公经费 专项资金 "
    "公益性岗位 慈善捐赠 住房保障 公租房 廉租房 危房改造 禁毒宣传 反诈宣传 法治宣传 普法教育 食品安全 控烟 "
    "健康教育 慢性病管理 家庭医生签约"
).split()
KINDS = "通知 请示 报告 批复 意见 函 会议纪要 工作方案 工作总结 实施方案 情况说明 登记表 申请表 公示 名单".split()
ORGS = (
    "振兴社区居民委员会 和平社区居委会 红旗街道办事处 区民政局 区卫生健康局 街道党工委 区人力资源和社会保障局 "
    "区残疾人联合会 区妇女联合会 镇人民政府 区退役军人事务局 区应急管理局"
).split()
ABBR = "振社 和社 红街 区民 区卫 街党 区人社 区残 区妇 镇府 区退 区应".split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅玉兰志强海燕春梅德明文斌"
PLACES = "幸福小区 和平里 建设新村 光明小区 东风路 向阳花园 振兴家园 人民路".split()
REASONS = "疾病 残疾 失业 子女就学 意外事故 年老体弱 家庭变故".split()
ISSUES = "宣传不够深入 部分居民参与度不高 台账资料不够规范 人员力量不足 资金保障不足 工作机制有待完善".split()
ROLES = "社区两委成员 居民代表 楼组长 网格员 驻区单位代表 志愿者".split()
FONDS = ("J012", "J013", "J014", "J015")
CATEGORIES = ("WS",) * 7 + ("KU", "ZP", "ZY·DB")
RETENTIONS = ("Y", "D30", "D30", "D10", "D10")


class Generator:
    """Deterministic community-archive records (件): the same seed gives the same texts."""

    def __init__(self, seed: int = 20240601) -> None:
        self.rng = random.Random(seed)
        self.numbers: dict[tuple[str, str, int, str], int] = {}
        self._s2t = None

    def person(self) -> str:
        r = self.rng
        return r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.randint(1, 2)))

    def title(self, subject: str, year: int) -> str:
        r = self.rng
        kind = r.choice(KINDS)
        return r.choice(
            (
                f"关于{subject}的{kind}",
                f"关于开展{subject}工作的通知",
                f"{r.choice(ORGS)}关于{year}年度{subject}工作的{kind}",
                f"关于{self.person()}申请{subject}的{kind}",
                f"{year}年{subject}{kind}",
            )
        )

    def sentence(self, subject: str) -> str:
        r = self.rng
        return r.choices(self._sentences, weights=self._weights)[0](self, subject)

    # Each template is a function: only the one drawn is formatted. The weights keep 档案 and
    # the 低保 family about as common as in a residents' committee's own files (a few % of items).
    _sentences = (
        lambda s, x: f"根据{s.rng.choice(ORGS)}《关于{x}的通知》要求，我社区认真组织开展{x}工作。",
        lambda s, x: f"截至{s.rng.randint(1, 12)}月底，共受理{x}申请{s.rng.randint(2, 300)}件，已全部办结。",
        lambda s, x: (
            f"{s.person()}，{s.rng.choice('男女')}，{s.rng.randint(18, 95)}岁，住{s.rng.choice(PLACES)}"
            f"{s.rng.randint(1, 40)}栋{s.rng.randint(1, 6)}单元，家庭人口{s.rng.randint(1, 6)}人，"
            f"因{s.rng.choice(REASONS)}申请{x}。"
        ),
        lambda s, x: f"经入户调查和民主评议，该户符合{x}条件，现予以公示，公示期为七天。",
        lambda s, x: (
            f"社区网格员对辖区{s.rng.randint(2, 300)}户居民进行了走访，重点了解{x}和{s.rng.choice(SUBJECTS)}情况。"
        ),
        lambda s, x: (
            f"会议由{s.person()}主持，{s.rng.choice(ROLES)}出席，会议讨论了{x}、{s.rng.choice(SUBJECTS)}等事项。"
        ),
        lambda s, x: (
            f"存在的问题：一是{s.rng.choice(ISSUES)}；二是{s.rng.choice(ISSUES)}；三是{s.rng.choice(ISSUES)}。"
        ),
        lambda s, x: (
            f"下一步，我社区将继续做好{x}，切实加强{s.rng.choice(SUBJECTS)}，不断提升居民群众的获得感和幸福感。"
        ),
        lambda s, x: f"本件材料共{s.rng.randint(1, 30)}页，已按照档案整理规范归档。",
        lambda s, x: f"附件：{s.rng.choice(SUBJECTS)}{s.rng.choice(KINDS)}。",
        lambda s, x: (
            f"{s.rng.choice(PLACES)}共有住户{s.rng.randint(100, 900)}户，常住人口{s.rng.randint(300, 3000)}人。"
        ),
        lambda s, x: f"{s.rng.choice(ROLES)}{s.person()}同志汇报了{x}的进展情况，与会人员进行了讨论。",
        lambda s, x: f"请各楼组长于{s.rng.randint(1, 12)}月{s.rng.randint(1, 28)}日前将材料报送社区服务中心。",
        lambda s, x: f"联系人：{s.person()}，联系电话：{s.rng.randint(13000000000, 18999999999)}。",
        lambda s, x: f"{s.rng.choice(PLACES)}城乡低保户{s.person()}家的{s.rng.choice(REASONS)}情况已登记在册。",
        lambda s, x: f"相关材料存放于社区档案室{s.rng.randint(1, 9)}号柜。",
    )
    _weights = (3, 3, 2, 2, 3, 3, 3, 3, 0.3, 1, 3, 3, 3, 2, 0.2, 0.2)

    def body(self, subject: str) -> str:
        r = self.rng
        shape = r.random()
        if shape < 0.15:
            return ""  # a title only: a photo, a form with nothing extracted
        sentences = (
            r.randint(1, 3) if shape < 0.5 else r.randint(6, 20) if shape < 0.85 else r.randint(25, 70)
        )  # short, a page, several pages
        if shape > 0.97:
            sentences = r.randint(80, 160)
        paragraphs = []
        for _ in range(max(1, sentences // 5)):
            paragraphs.append("".join(self.sentence(subject) for _ in range(min(5, sentences))))
        return "\n".join(paragraphs)

    def doc(self) -> SearchDoc:
        r = self.rng
        subject = r.choice(SUBJECTS)
        fonds, category, retention = r.choice(FONDS), r.choice(CATEGORIES), r.choice(RETENTIONS)
        year = r.randint(2000, 2025)
        key = (fonds, category, year, retention)
        number = self.numbers[key] = self.numbers.get(key, 0) + 1
        org = r.randrange(len(ORGS))
        meta = f"{ORGS[org]} {ABBR[org]}〔{year}〕{r.randint(1, 200)}号"
        if r.random() < 0.1:
            meta += f" 备注：{r.choice(ISSUES)}"
        title, body = self.title(subject, year), self.body(subject)
        if r.random() < 0.05:  # records typed in traditional characters (Hong Kong, Taiwan, older systems)
            title, meta, body = (self.s2t(t) for t in (title, meta, body))
        date = f"{year}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
        code = f"{fonds}-{category}·{year}-{retention}-{number:04d}"
        return SearchDoc(code, fonds, year, category, retention, title, date, meta, body)

    def s2t(self, text: str) -> str:
        if self._s2t is None:
            import opencc

            self._s2t = opencc.OpenCC("s2t")
        return self._s2t.convert(text)

    def docs(self, n: int) -> Iterator[SearchDoc]:
        for _ in range(n):
            yield self.doc()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# -- the main benchmark ---------------------------------------------------------------------------

VISIBLE = frozenset(FONDS)
MIX: dict[str, list[Query]] = {
    "two-char": [
        Query(q, VISIBLE) for q in ("低保", "档案", "救助", "网格", "公示", "党建", "电梯", "檔案", "优抚", "控烟")
    ],
    "phrase": [
        Query(q, VISIBLE)
        for q in ('"垃圾分类"', '"居民委员会换届选举"', '"入户调查"', "低保 公示", '"最低生活保障"', "家庭医生 签约")
    ],
    "filtered": [
        Query("低保", VISIBLE, year_from=2015, year_to=2020, category="WS"),
        Query("档案", VISIBLE, fonds="J013", retention="Y"),
        Query("救助", frozenset({"J012"}), date_from="20200101", date_to="20211231"),
        Query("社区", VISIBLE, category="KU", year_from=2024),
    ],
    "broad": [Query(q, VISIBLE) for q in ("社区", "工作", "居民", "申请")],
    "code-prefix": [Query(q, VISIBLE) for q in ("J012-WS·2021", "J013-KU·2019-D30", "J014-WS·2024-Y-0001", "J015-ZP")],
}
_LIKE_FACETS = (
    "SELECT fonds, year, category, retention, count(*) FROM naive WHERE {where} GROUP BY 1, 2, 3, 4",
    "SELECT code, title FROM naive WHERE {where} ORDER BY code LIMIT 20",
)


def build_naive(path: Path, n: int, seed: int) -> None:
    """The generated texts in an ordinary table: what a LIKE scan reads, and the source of the index."""
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE naive (code TEXT PRIMARY KEY, fonds TEXT, year INTEGER, category TEXT, retention TEXT, "
        "date TEXT, title TEXT, meta TEXT, body TEXT)"
    )
    rows = ((d.archival_code, d.fonds_code, d.year, d.category, d.retention, d.date, d.title, d.metadata_text, d.body)
            for d in Generator(seed).docs(n))  # fmt: skip
    con.executemany("INSERT INTO naive VALUES (?,?,?,?,?,?,?,?,?)", rows)
    con.execute("CREATE TABLE generated (items INTEGER, seed INTEGER)")
    con.execute("INSERT INTO generated VALUES (?, ?)", (n, seed))
    con.commit()
    con.close()


def read_naive(path: Path) -> Iterator[SearchDoc]:
    con = sqlite3.connect(path)
    for row in con.execute(
        "SELECT code, fonds, year, category, retention, title, date, meta, body FROM naive ORDER BY rowid"
    ):
        yield SearchDoc(*row)
    con.close()


def like_query(con: sqlite3.Connection, q: Query) -> None:
    """Answer the question the LIKE way: total, facets and one page, each a full scan."""
    marks = ",".join("?" * len(q.visible_fonds))
    where, params = [f"fonds IN ({marks})"], sorted(q.visible_fonds)
    for column, op, value in (
        ("fonds", "=", q.fonds), ("year", ">=", q.year_from), ("year", "<=", q.year_to), ("category", "=", q.category),
        ("retention", "=", q.retention), ("date", ">=", q.date_from), ("date", "<=", q.date_to),
    ):  # fmt: skip
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    for word in q.text.replace('"', " ").split():
        if "-" in word:
            where.append("code LIKE ?")
            params.append(word + "%")
        else:
            where.append("(title LIKE ? OR meta LIKE ? OR body LIKE ?)")
            params += [f"%{word}%"] * 3
    for sql in _LIKE_FACETS:
        con.execute(sql.format(where=" AND ".join(where)), params).fetchall()


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each run: CPU time (every thread's, the index's helpers
    included) shows the work when other jobs share the cores."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return wall, cpu


def run_main(args: argparse.Namespace, workdir: Path) -> None:
    n = args.items
    naive_path, index_path = workdir / "naive.db", workdir / "search.db"
    if args.reuse and index_current(index_path) and naive_path.exists():
        print(f"reusing the texts and index in {workdir}")
        return _queries(args, FtsIndex(index_path, time_limit=30), sqlite3.connect(naive_path))
    if not naive_current(naive_path, n, args.seed):
        print(f"生成 (generating) {n:,} items …", flush=True)
        t0 = time.perf_counter()
        naive_path.unlink(missing_ok=True)
        build_naive(naive_path, n, args.seed)
        print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    else:
        print(f"reusing the generated texts in {naive_path} (same items and seed)")
    naive = sqlite3.connect(naive_path)
    chars = naive.execute("SELECT sum(length(title) + length(meta) + length(body)) FROM naive").fetchone()[0]
    print(f"{chars / 2**20:.1f} M characters, {chars / n:.0f} per item; peak RSS so far {peak_rss_mb():.0f} MB")
    for stale in workdir.glob("search.db*"):
        stale.unlink()
    index = FtsIndex(index_path, time_limit=30)
    t0 = time.perf_counter()
    index.rebuild(read_naive(naive_path))
    build = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in workdir.glob("search.db*"))
    print(
        f"build: {build:.1f} s, {n / build:,.0f} docs/s, peak RSS {peak_rss_mb():.0f} MB, "
        f"index files {size / 2**20:.0f} MB with the WAL (originals included)"
    )
    _queries(args, index, naive)


def naive_current(path: Path, n: int, seed: int) -> bool:
    """Whether ``path`` holds the texts of ``n`` items from ``seed``: they are kept between runs."""
    if not path.exists():
        return False
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT items, seed FROM generated").fetchone() == (n, seed)
    except sqlite3.Error:
        return False
    finally:
        con.close()


def index_current(path: Path) -> bool:
    """Whether ``path`` is an index of this code's schema: an older one is rebuilt, not measured."""
    if not path.exists():
        return False
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == (SCHEMA_VERSION,)
    except sqlite3.Error:
        return False
    finally:
        con.close()


def _queries(args: argparse.Namespace, index: FtsIndex, naive: sqlite3.Connection) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other jobs on the machine slow wall time)")
    head = f"{'query type':<14}{'FTS p50':>9}{'FTS p95':>9}{'CPU p50':>9}{'CPU p95':>9}"
    head += f"{'LIKE p50':>10}{'LIKE p95':>10}{'ratio':>7}"
    print("\n" + head)
    all_wall: list[float] = []
    all_cpu: list[float] = []
    for kind, queries in MIX.items():
        wall: list[float] = []
        cpu: list[float] = []
        like: list[float] = []
        for q in queries:
            index.search(q)  # warm the page cache as a running service would be
            w, c = timed(lambda q=q: index.search(q), args.repeat)
            wall += w
            cpu += c
            if args.detail:
                print(f"  {q.text or '(filters)':<22}{percentile(w, 50):>7.1f}ms{percentile(w, 95):>7.1f}ms"
                      f"{percentile(c, 50):>7.1f}ms{percentile(c, 95):>7.1f}ms")  # fmt: skip
            like += timed(lambda q=q: like_query(naive, q), max(1, args.repeat // 5))[0]
        all_wall += wall
        all_cpu += cpu
        p50, p95, l50 = percentile(wall, 50), percentile(wall, 95), percentile(like, 50)
        print(
            f"{kind:<14}{p50:>7.1f}ms{p95:>7.1f}ms{percentile(cpu, 50):>7.1f}ms{percentile(cpu, 95):>7.1f}ms"
            f"{l50:>8.0f}ms{percentile(like, 95):>8.0f}ms{l50 / p50:>6.0f}x"
        )
    print(
        f"{'all':<14}{percentile(all_wall, 50):>7.1f}ms{percentile(all_wall, 95):>7.1f}ms"
        f"{percentile(all_cpu, 50):>7.1f}ms{percentile(all_cpu, 95):>7.1f}ms"
    )
    print(f"peak RSS {peak_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")
    index.close()
    naive.close()


# -- tokenisation candidates ------------------------------------------------------------------------

RECALL_QUERIES = (
    *"低保 档案 救助 网格 公示 电梯 养老 保险 调解 残疾 选举 宣传 楼组 张伟 刘洋 陈静".split(),  # with names
    *"垃圾分类 居民委员会 最低生活保障 档案整理 入户调查".split(),
)


def _unigrams(folded: str) -> str:
    return " ".join(ch for is_cjk, t in runs(folded) for ch in (t if is_cjk else [t]))


def _jieba_tokens(folded: str) -> str:
    import jieba

    return " ".join(t for t in jieba.cut_for_search(folded) if t.strip() and any(c.isalnum() for c in t))


def run_compare(args: argparse.Namespace, workdir: Path) -> None:
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    n = args.compare_items
    texts = [fold(f"{d.title} {d.metadata_text} {d.body}") for d in Generator(args.seed).docs(n)]
    print(f"{n:,} items, {sum(map(len, texts)) / 2**20:.1f} M characters of folded text\n")
    truth = {q: {i for i, t in enumerate(texts) if q in t} for q in RECALL_QUERIES}

    def quoted(tokens: list[str], prefix: bool = False) -> str:
        return '"' + " ".join(tokens) + '"' + (" *" if prefix else "")

    candidates: dict[str, tuple[str, Callable[[str], str], Callable[[str], str]]] = {
        "bigram (chosen)": ("ascii", index_tokens, lambda q: quoted(*query_tokens(q))),
        "unigram phrase": ("ascii", _unigrams, lambda q: quoted(_unigrams(q).split())),
        "fts5 trigram": ("trigram", lambda t: t, lambda q: quoted([q])),
        "jieba search": ("ascii", _jieba_tokens, lambda q: quoted(_jieba_tokens(q).split())),
    }
    print(f"{'candidate':<17}{'build s':>8}{'size MB':>9}{'2-char recall':>15}{'4+ recall':>11}{'query ms':>10}")
    for name, (tokenizer, tokens, to_query) in candidates.items():
        path = workdir / f"compare-{tokenizer}-{len(name)}.db"
        path.unlink(missing_ok=True)
        con = sqlite3.connect(path)
        # Contentless for all: the sizes compare the full-text structures alone.
        con.execute(f"CREATE VIRTUAL TABLE f USING fts5(t, tokenize='{tokenizer}', content='')")
        t0 = time.perf_counter()
        con.executemany("INSERT INTO f (rowid, t) VALUES (?, ?)", ((i, tokens(t)) for i, t in enumerate(texts)))
        con.execute("INSERT INTO f (f) VALUES ('optimize')")
        con.commit()
        build = time.perf_counter() - t0
        size = path.stat().st_size / 2**20
        recalls: dict[bool, list[float]] = {True: [], False: []}
        times = []
        for q in RECALL_QUERIES:
            t = time.perf_counter()
            found = {r[0] for r in con.execute("SELECT rowid FROM f WHERE f MATCH ?", (to_query(q),))}
            times.append((time.perf_counter() - t) * 1000)
            recalls[len(q) == 2].append(len(found & truth[q]) / max(1, len(truth[q])))
        con.close()
        r2, r4 = statistics.mean(recalls[True]), statistics.mean(recalls[False])
        print(f"{name:<17}{build:>8.1f}{size:>9.1f}{r2:>14.1%}{r4:>11.1%}{statistics.mean(times):>10.2f}")
    like = sqlite3.connect(":memory:")
    like.execute("CREATE TABLE t (t TEXT)")
    like.executemany("INSERT INTO t VALUES (?)", ((t,) for t in texts))
    times, _ = timed(lambda: like.execute("SELECT count(*) FROM t WHERE t LIKE '%低保%'").fetchone(), 5)
    print(f"{'LIKE scan':<17}{'':>8}{'':>9}{'100.0%':>15}{'100.0%':>11}{statistics.mean(times):>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of each query")
    parser.add_argument("--workdir", type=Path, help="where the texts and index go (default: bench/out/search-N-SEED)")
    parser.add_argument("--reuse", action="store_true", help="query the index already in the workdir, if current")
    parser.add_argument("--detail", action="store_true", help="also print each query's timings")
    parser.add_argument("--compare", action="store_true", help="measure the tokenisation candidates instead")
    parser.add_argument("--compare-items", type=int, default=10_000)
    args = parser.parse_args()
    workdir = args.workdir or REPO / "bench" / "out" / f"search-{args.items}-{args.seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    (run_compare if args.compare else run_main)(args, workdir)


if __name__ == "__main__":
    main()
