#!/usr/bin/env python3
"""pagecrawl's benchmark: pagecrawl, spider, Scrapy and miniScrapy on one local site, in one run.

Started by scripts/bench.sh, which builds pagecrawl and the spider peer (bench/peers/spider) and
installs the Python peers into bench/peers/venv.

What it measures
----------------
Every crawler fetches the same pages from `pagecrawl demo --serve` (a separate process on
127.0.0.1, about 70 KB of Douban-like markup per page, 25 items, decoy items in an HTML comment
and a <script> string), and every output is checked against what the site served with
`pagecrawl demo --verify` (missing, duplicated and unexpected items; a decoy would count as
unexpected). Each crawler is one process, started here: its CPU time (user + sys) comes from
wait4(2) and is exact, its peak RSS is the kernel's high-water mark of its own memory (VmHWM,
see PeakRss for why not wait4's ru_maxrss); the site's are not included.

Sections (run all of them, or pick with --only; --quick runs a small smoke version of each):
- matrix:   every crawler over latency 0 / 50 ms x 1, 8, 32 threads x 400, 4,000 pages (or only
            the cells named with --cell LATENCY_MS,THREADS,PAGES);
- shutdown: SIGINT to a pagecrawl with 32 requests in flight at 200 ms latency, time to exit;
- memory:   pagecrawl's peak RSS on a 100,000-page crawl against a 1,000-page one;
- soak:     50 back-to-back scheduled rounds (scripts/soak.py);
- detail:   pagecrawl on a site whose books link to detail pages (`demo --serve --follow`),
            latency 0, 8 crawlers, 400 list pages: the list alone, the list with every book's
            detail page (config/demo-follow.toml's [follow], no downloads), and the 10,000
            detail pages crawled as a listing of their own with the same fields; CPU per list
            page of each (target 6).

How to read the results
-----------------------
Each run prints one line as it finishes; at the end the full report (the same Markdown as
bench/results.md) is printed: the matrix (one row per run), the ratios pagecrawl / spider and
pagecrawl / Scrapy per cell (pages/s: higher is better for pagecrawl; CPU per page: lower is
better; a ratio with a run that lost or failed items is not given), the extra measurements and
each target as MET or MISSED with its figures. bench/results.json holds the raw
figures, bench/pages_per_sec.png the chart of pages/s against threads at 50 ms latency. A run
that exceeds its time limit is killed and shown as "timeout"; a non-zero exit is shown in the
status column. The machine's load average is recorded before and after: figures taken on a busy
machine are noise.

Files: this one runs the crawlers and the sections; settings.py holds the paths and fixed
numbers, targets.py the targets and their verdicts, report.py the report and the chart.
"""

import argparse
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

# The shared paths and numbers; also read as run.ROOT, run.PAGECRAWL … by bench/engines.py,
# bench/allocator.py, bench/profile.py and scripts/frontier_bench.py.
from settings import (BENCH, CRAWLERS, ITEMS_PER_PAGE, PAGECRAWL, ROOT, RUN_LIMIT_S,
                      SHUTDOWN_LATENCY_MS, SHUTDOWN_PAGES, SPIDER_PEER, VENV_BIN)
from report import load_average, machine, versions, write_results
from targets import fmt, targets



# --------------------------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------------------------


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Site:
    """`pagecrawl demo --serve` in its own process, for the duration of a `with` block."""

    def __init__(self, pages, latency_ms, binary=PAGECRAWL, detail_pages=False,
                 page_size=ITEMS_PER_PAGE, extra=(), port=None):
        self.binary = binary
        self.extra = list(extra)
        self.pages = pages
        self.page_size = page_size
        self.latency_ms = latency_ms
        self.detail_pages = detail_pages
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/top250?start={{offset}}"
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(
            [str(self.binary), "demo", "--serve", "--listen", f"127.0.0.1:{self.port}",
             "--pages", str(self.pages), "--latency-ms", str(self.latency_ms),
             "--page-size", str(self.page_size)]
            + (["--follow"] if self.detail_pages else []) + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.wait_until_it_answers()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def wait_until_it_answers(self, limit_s=15):
        """Waits until page 0 is served (not just until the port accepts connections)."""
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo site exited with code {self.proc.returncode}")
            try:
                with no_proxy.open(self.url.format(offset=0), timeout=5) as response:
                    response.read()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the demo site on port {self.port} did not answer")

    def stop(self):
        """Stops the site with SIGINT (SIGKILL if it does not go)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(argv, stderr_path, log="warn"):
    """Starts a crawler, its stdout discarded and its stderr in a file.

    RUST_LOG=warn for pagecrawl unless `log` says more; no __pycache__ left in bench/ by the
    Python peers.
    """
    env = {**os.environ, "RUST_LOG": log, "PYTHONDONTWRITEBYTECODE": "1"}
    with open(stderr_path, "wb") as stderr:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, env=env)


def measured(argv, stderr_path, log="warn"):
    """Runs a crawler to its end: (exit code, timed out?, CPU seconds, peak RSS MiB, wall s)."""
    start = time.monotonic()
    proc = spawn(argv, stderr_path, log)
    code, timed_out, cpu_s, rss_mib = reap(proc, RUN_LIMIT_S)
    return code, timed_out, cpu_s, rss_mib, time.monotonic() - start


class PeakRss(threading.Thread):
    """Follows a running process's VmHWM, the kernel's high-water mark of its resident set.

    Why not wait4's ru_maxrss: Linux carries a process's maxrss across exec, and a child forked
    (or vforked, as subprocess does) from this Python driver starts with the driver's memory, so
    ru_maxrss can never be lower than the driver's own peak (about 20 MiB here) and hides a
    smaller crawler. VmHWM belongs to the address space the crawler got at exec, so it is the
    crawler's own. The kernel keeps the high-water mark between two reads; only growth in the
    last interval before exit (POLL_S) could be missed.
    """

    POLL_S = 0.005

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak_kib = max(self.peak_kib, vm_hwm_kib(self.pid))
            self.done.wait(self.POLL_S)

    def stop(self):
        """Stops following (call it once the process has exited); returns the peak in MiB."""
        self.done.set()
        self.join()
        return self.peak_kib / 1024 if self.peak_kib else None


def vm_hwm_kib(pid):
    """VmHWM of a live process in KiB; 0 once it has exited (a zombie has no memory)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reap(proc, limit_s):
    """Waits for `proc`, killing it after `limit_s` seconds, and measures it.

    Returns (exit code, timed out?, user+sys CPU seconds, peak RSS in MiB or None). The wait is
    wait4(2), which blocks in the kernel (so the moment of exit is exact) and gives the
    process's CPU time; the peak RSS comes from PeakRss.
    """
    peak = PeakRss(proc.pid)
    peak.start()
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        try:
            os.kill(proc.pid, signal.SIGKILL)  # not proc.kill(): that may reap it under our feet
        except ProcessLookupError:
            pass

    timer = threading.Timer(limit_s, kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here: tell Popen, so that it never waits for it again
    return code, timed_out.is_set(), usage.ru_utime + usage.ru_stime, peak.stop()


def stderr_tail(path, chars=400):
    """The end of a crawler's stderr, for the report of a failed run."""
    try:
        return path.read_text(errors="replace")[-chars:].strip()
    except OSError:
        return ""


def count_lines(path):
    """Lines in a file (items written, for JSON Lines); 0 when it does not exist."""
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def verify(out, pages):
    """Checks a crawler's output against the site: {expected, missing, duplicated, unexpected}.

    `demo --verify` exits 1 when something is missing; that is a result, not an error.
    """
    expected = pages * ITEMS_PER_PAGE
    if not out.exists():
        return {"expected": expected, "missing": expected, "duplicated": 0, "unexpected": 0}
    done = subprocess.run([str(PAGECRAWL), "demo", "--verify", str(out), "--pages", str(pages)],
                          capture_output=True, text=True, check=False)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(f"  demo --verify failed (exit {done.returncode}): {done.stderr[-400:]}\n")
        return {"expected": expected, "missing": None, "duplicated": None, "unexpected": None}


# --------------------------------------------------------------------------------------------
# The crawlers
# --------------------------------------------------------------------------------------------


def pagecrawl_config(work, url, pages, threads, out):
    """Writes the pagecrawl config of one run, the demo crawl's (config/demo.toml) for `pages`
    pages with `threads` crawlers (parsers at their default); returns its path."""
    config = work / "pagecrawl.toml"
    text = ((ROOT / "config" / "demo.toml").read_text()
            .replace("{url}", json.dumps(url))
            .replace("{last_page}", str(pages - 1))
            .replace("{out}", json.dumps(str(out))))
    text = re.sub(r"(?m)^crawlers = \d+$", f"crawlers = {threads}", text, count=1)
    # The demo's table-form fields (rank, price, tags) exercise the table forms; the peers
    # extract only title and link, so the benchmark leaves them out to compare the same work.
    text = re.sub(r"(?m)^(rank|price|tags) = \{.*\}\n", "", text)
    config.write_text(text)
    return config


def command(crawler, url, pages, threads, out, work):
    """The command line of one run of `crawler` writing JSON Lines to `out`."""
    if crawler == "pagecrawl":
        config = pagecrawl_config(work, url, pages, threads, out)
        return [str(PAGECRAWL), "run", "--config", str(config), "--fresh"]
    if crawler == "spider":
        return [str(SPIDER_PEER), "--url", url, "--pages", str(pages), "--threads", str(threads),
                "--out", str(out)]
    if crawler == "scrapy":
        return [str(VENV_BIN / "scrapy"), "runspider", str(BENCH / "scrapy_spider.py"),
                "-a", f"url={url}", "-a", f"pages={pages}", "-a", f"threads={threads}",
                "-a", f"out={out}"]
    if crawler == "miniscrapy":
        return [str(VENV_BIN / "python"), str(BENCH / "miniscrapy.py"), "--url", url,
                "--pages", str(pages), "--out", str(out), "--crawlers", str(threads),
                "--parsers", "3"]
    raise ValueError(f"unknown crawler {crawler!r}")


def fresh_output(work):
    """The output path of a run, with no output, state or moved-aside files left from before."""
    out = work / "out.jsonl"
    for old in work.glob("out.jsonl*"):
        old.unlink()
    return out


def one_run(crawler, latency_ms, threads, pages):
    """One run: the crawler against a fresh site, measured and verified; returns its row."""
    with Site(pages, latency_ms) as site, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        out = fresh_output(work)
        stderr_path = work / "stderr.log"
        argv = command(crawler, site.url, pages, threads, out, work)
        code, timed_out, cpu_s, rss_mib, wall_s = measured(argv, stderr_path)
        check = verify(out, pages)
        items = count_lines(out)
        failure = "" if code == 0 or timed_out else stderr_tail(stderr_path)
    status = "timeout" if timed_out else ("ok" if code == 0 else f"exit {code}")
    row = {
        "crawler": crawler, "latency_ms": latency_ms, "threads": threads, "pages": pages,
        "status": status, "exit": code, "wall_s": round(wall_s, 3),
        "pages_per_s": None if timed_out else round(pages / wall_s, 1),
        "cpu_s": round(cpu_s, 3), "cpu_ms_per_page": round(cpu_s / pages * 1000, 3),
        "peak_rss_mib": None if rss_mib is None else round(rss_mib, 1), "items": items,
        **check,
    }
    print_run(row)
    if failure:
        print(f"    stderr: {failure}", flush=True)
    return row


def print_run(row):
    """One line per finished run, as the benchmark goes."""
    speed = "     -" if row["pages_per_s"] is None else f"{row['pages_per_s']:8.1f}"
    print(f"  {row['crawler']:10} {row['latency_ms']:3} ms {row['threads']:2} threads "
          f"{row['pages']:6} pages: {row['wall_s']:7.2f} s {speed} pages/s "
          f"{row['cpu_ms_per_page']:7.2f} CPU ms/page {fmt(row['peak_rss_mib'], '6.1f')} MiB  "
          f"items {row['items']} missing {row['missing']} dup {row['duplicated']} "
          f"unexpected {row['unexpected']}  {row['status']}", flush=True)


# --------------------------------------------------------------------------------------------
# Sections: each takes (results, options) and stores its figures in `results` under its name;
# `options` is the command line (options.quick, options.cell). To add one, write a function and
# add it to SECTIONS.
# --------------------------------------------------------------------------------------------


def section_matrix(results, options):
    """Every crawler over latency x threads x pages; the crawlers take turns in each cell."""
    if options.cell:
        cells = options.cell
    elif options.quick:
        cells = [(latency_ms, 8, 100) for latency_ms in (0, 50)]
    else:
        cells = [(latency_ms, threads, pages) for latency_ms in (0, 50) for pages in (400, 4000)
                 for threads in (1, 8, 32)]
    rows = []
    for latency_ms, threads, pages in cells:
        for crawler in CRAWLERS:
            rows.append(one_run(crawler, latency_ms, threads, pages))
    results["matrix"] = rows


def matrix_cell(text):
    """--cell's argument, LATENCY_MS,THREADS,PAGES (e.g. 0,8,4000), as a tuple of ints."""
    try:
        latency_ms, threads, pages = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not LATENCY_MS,THREADS,PAGES (three whole numbers, e.g. 0,8,4000)"
        ) from None
    if latency_ms < 0 or threads < 1 or pages < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: latency must be 0 or more, threads and pages 1 or more")
    return latency_ms, threads, pages


def section_shutdown(results, options):
    """Time from SIGINT to exit of pagecrawl with 32 requests in flight at 200 ms latency."""
    samples = []
    with Site(SHUTDOWN_PAGES, SHUTDOWN_LATENCY_MS) as site:
        for _ in range(1 if options.quick else 3):
            sample = one_shutdown(site)
            samples.append(sample)
            print(f"  shutdown: {fmt(sample['seconds'], '.3f')} s from SIGINT to exit, "
                  f"exit code {sample['exit']}, {sample['items']} items, "
                  f"duplicated {sample['duplicated']}, unexpected {sample['unexpected']}"
                  + ("" if sample["crawling_before_signal"] else "  (it never wrote an item!)"),
                  flush=True)
    results["shutdown"] = samples


def one_shutdown(site):
    """One shutdown sample: SIGINT to a 32-crawler pagecrawl in full flight, timed to its exit.

    It waits until the crawler writes items, lets it run one more second (every crawler then has
    a request in flight), sends SIGINT and times the exit.

    The output must then have no duplicated or unexpected items (missing ones are expected: the
    crawl was interrupted), and the exit code must be 130. `seconds` is None when the process
    exited before the signal.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        out = fresh_output(work)
        argv = command("pagecrawl", site.url, SHUTDOWN_PAGES, 32, out, work)
        proc = spawn(argv, work / "stderr.log")
        crawling = wait_for_output(proc, out, limit_s=30)
        if crawling:
            time.sleep(1.0)  # steady state: every crawler has a request in flight
        if proc.poll() is None:
            sent = time.monotonic()
            os.kill(proc.pid, signal.SIGINT)
            code, timed_out, _, _ = reap(proc, limit_s=60)
            seconds = None if timed_out else round(time.monotonic() - sent, 3)
        else:
            code, timed_out, seconds = proc.returncode, False, None
            print(f"    stderr: {stderr_tail(work / 'stderr.log')}", flush=True)
        check = verify(out, SHUTDOWN_PAGES)
        return {"seconds": seconds, "exit": code, "timed_out": timed_out,
                "crawling_before_signal": crawling, "items": count_lines(out),
                "duplicated": check["duplicated"], "unexpected": check["unexpected"]}


def wait_for_output(proc, out, limit_s):
    """Waits until `out` is non-empty; False if the limit passed or the process exited first."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.stat().st_size > 0:
            return True
        time.sleep(0.01)
    return False


def section_memory(results, options):
    """pagecrawl's peak RSS on a long crawl against a short one (latency 0, 8 crawlers)."""
    rows = []
    for pages in ([1000, 5000] if options.quick else [1000, 100_000]):
        rows.append(one_run("pagecrawl", 0, 8, pages))
    results["memory"] = rows


def section_soak(results, options):
    """Back-to-back rounds of a scheduled crawl with dedup (scripts/soak.py), 50 or 10 (quick)."""
    fd, report_name = tempfile.mkstemp(prefix="bench-soak-", suffix=".json")
    os.close(fd)
    report = Path(report_name)
    try:
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "soak.py"),
             "--rounds", "10" if options.quick else "50",
             "--binary", str(PAGECRAWL), "--json", str(report)], check=False)
        if done.returncode == 0:
            results["soak"] = json.loads(report.read_text())
        else:
            results["soak"] = {"error": f"scripts/soak.py exited with code {done.returncode}"}
            print(f"  soak: {results['soak']['error']}", flush=True)
    finally:
        report.unlink(missing_ok=True)


DETAIL_PAGES = 400
FIRST_BOOK_ID = 1_000_000  # book g's detail page is /subject/<1000000 + g>/ (demo-site detail.rs)


def section_detail(results, options):
    """Target 6's three crawls of one `demo --serve --follow` site, latency 0, 8 crawlers.

    - list: the listing alone, as in the matrix;
    - list+detail: the listing plus every book's detail page, the `[follow]` table of
      config/demo-follow.toml (no `[download]`);
    - detail as a listing: the same detail pages crawled by number, one item per page with
      the same three fields: what those pages cost through the listing path, which is the most
      their own parse cost can be (it includes fetching them).
    Each output is checked by its line count and, for the detail runs, by every line having a
    rating: `demo --verify` knows the plain site's links, not this one's.
    """
    pages = 20 if options.quick else DETAIL_PAGES
    books = pages * ITEMS_PER_PAGE
    follow = (ROOT / "config" / "demo-follow.toml").read_text().split("\n[download]\n")[0]
    rows = []
    with Site(pages, 0, detail_pages=True) as site, \
            tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        origin = site.url.split("/top250")[0]
        for name in ("list", "list+detail", "detail as a listing"):
            out = fresh_output(work)
            config = pagecrawl_config(work, site.url, pages, 8, out)
            if name == "list+detail":
                config.write_text(config.read_text() + follow)
            elif name == "detail as a listing":
                config.write_text(detail_listing_config(origin, books, out, follow))
            stderr_path = work / "stderr.log"
            code, timed_out, cpu_s, rss_mib, wall_s = measured(
                [str(PAGECRAWL), "run", "--config", str(config), "--fresh"], stderr_path)
            lines = read_lines(out)
            expected = books
            rated = sum(1 for line in lines if json.loads(line).get("rating") is not None)
            ok = (code == 0 and len(lines) == expected
                  and (name == "list" or rated == expected))
            row = {"run": name, "exit": code, "timed_out": timed_out, "ok": ok,
                   "list_pages": pages, "fetched": books if name == "detail as a listing" else
                   pages + (books if name == "list+detail" else 0),
                   "items": len(lines), "rated": rated, "wall_s": round(wall_s, 3),
                   "cpu_s": round(cpu_s, 3),
                   "cpu_ms_per_list_page": round(cpu_s / pages * 1000, 3),
                   "peak_rss_mib": None if rss_mib is None else round(rss_mib, 1)}
            print(f"  {name:20} exit {code}  {len(lines)} items ({rated} rated)  "
                  f"{row['cpu_ms_per_list_page']:.3f} CPU ms per list page  "
                  f"{fmt(row['peak_rss_mib'], '.1f')} MiB", flush=True)
            if not ok:
                print(f"    stderr: {stderr_tail(stderr_path)}", flush=True)
            rows.append(row)
    results["detail"] = rows


SPREAD_LATENCY_MS = 50
SPREAD_ONE_PAGE = 40  # the items of the one list page whose detail pages are spread
SPREAD_PAGES = 20  # list + detail at 50 ms: 20 list pages, 500 detail pages
SPREAD_FOLLOWERS = 8
SPREAD_CRAWLERS = 2


def section_spread(results, options):
    """The detail stage at full speed, every answer 50 ms late (`demo --serve --follow`).

    - one list page of 40 items, one crawler, with follow.crawlers = 1 and = 8: the wall time of
      each (the target: 8 at least 6 x faster, since one page's detail pages go out over every
      detail crawler), robots.txt off in both (a fixed 50 ms before the list page, the same for
      both, which is not the detail stage's: with it the ideal ratio is 2.1 s / 0.35 s = 6.0);
    - list + detail: 20 list pages of 25 books, 2 crawlers and 8 detail crawlers, the detail pages
      per second against follow.crawlers / latency (160/s), and beside it Scrapy following the
      same detail pages with the same 10 requests at once (CONCURRENT_REQUESTS = 10).
    Each output is checked by its line count and every line having a rating.
    """
    pages = 4 if options.quick else SPREAD_PAGES
    follow = (ROOT / "config" / "demo-follow.toml").read_text().split("\n[download]\n")[0]
    rows = []

    def run(name, argv, work, out, books, extra=None):
        stderr_path = work / "stderr.log"
        code, timed_out, cpu_s, rss_mib, wall_s = measured(argv, stderr_path)
        lines = read_lines(out)
        rated = sum(1 for line in lines if json.loads(line).get("rating") is not None)
        ok = code == 0 and len(lines) == books and rated == books
        row = {"run": name, "exit": code, "timed_out": timed_out, "ok": ok, "items": len(lines),
               "rated": rated, "wall_s": round(wall_s, 3), "cpu_s": round(cpu_s, 3),
               "detail_per_s": round(books / wall_s, 1)}
        row.update(extra or {})
        print(f"  {name:44} exit {code}  {len(lines)} items ({rated} rated)  "
              f"{wall_s:.3f} s  {row['detail_per_s']} detail pages/s", flush=True)
        if not ok:
            print(f"    stderr: {stderr_tail(stderr_path)}", flush=True)
        rows.append(row)

    def pagecrawl_follow(work, url, list_pages, crawlers, followers, out, page_size, robots=True):
        config = pagecrawl_config(work, url, list_pages, crawlers, out)
        table = re.sub(r"(?m)^crawlers = \d+$", f"crawlers = {followers}", follow, count=1)
        text = config.read_text() + table
        text = re.sub(r"(?m)^page_size = \d+$", f"page_size = {page_size}", text, count=1)
        if not robots:
            text = text.replace("[http]\n", "[http]\nrobots = false\n", 1)
        config.write_text(text)
        return [str(PAGECRAWL), "run", "--config", str(config), "--fresh"]

    with Site(1, SPREAD_LATENCY_MS, detail_pages=True, page_size=SPREAD_ONE_PAGE) as site, \
            tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        for followers in (1, SPREAD_FOLLOWERS):
            out = fresh_output(work)
            # robots.txt off in both runs: its 50 ms before the list page is the same fixed
            # cost for 1 and 8 detail crawlers, and not the detail stage's.
            argv = pagecrawl_follow(work, site.url, 1, 1, followers, out, SPREAD_ONE_PAGE,
                                    robots=False)
            run(f"one page of {SPREAD_ONE_PAGE}, follow.crawlers = {followers}", argv, work,
                out, SPREAD_ONE_PAGE, {"shape": "one page", "followers": followers})
    books = pages * ITEMS_PER_PAGE
    with Site(pages, SPREAD_LATENCY_MS, detail_pages=True) as site, \
            tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        out = fresh_output(work)
        argv = pagecrawl_follow(work, site.url, pages, SPREAD_CRAWLERS, SPREAD_FOLLOWERS, out,
                                ITEMS_PER_PAGE)
        run(f"pagecrawl list + detail, {pages} pages", argv, work, out, books,
            {"shape": "list + detail", "crawler": "pagecrawl", "followers": SPREAD_FOLLOWERS})
        out = fresh_output(work)
        argv = command("scrapy", site.url, pages, SPREAD_CRAWLERS + SPREAD_FOLLOWERS, out, work)
        run(f"scrapy list + detail, {pages} pages", argv + ["-a", "follow=1"], work, out, books,
            {"shape": "list + detail", "crawler": "scrapy"})
    results["spread"] = rows


def detail_listing_config(origin, books, out, follow):
    """The config that crawls the detail pages of `books` books as a listing, by number: one
    item per page (its `div#wrapper`), the `[follow.fields]` of `follow` as its fields."""
    fields = follow.split("[follow.fields]\n", 1)[1]
    return "\n".join([
        "[site]",
        f"url = {json.dumps(origin + '/subject/{page}/')}",
        f"first_page = {FIRST_BOOK_ID}",
        f"last_page = {FIRST_BOOK_ID + books - 1}",
        "page_size = 1",
        "[threads]", "crawlers = 8",
        "[extract]", 'item = "div#wrapper"',
        "[extract.fields]", fields,
        "[output]", f"path = {json.dumps(str(out))}", ""])


def read_lines(path):
    """The lines of a JSON Lines file, none when it does not exist."""
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


JSON_PAGES = 4000


def section_json(results, options):
    """JSON listings against HTML ones: the same 4,000 pages of books, at latency 0 with 8
    crawlers, as HTML (`demo --serve`, config/demo.toml's title and link) and as the JSON API
    (`demo --serve --json`, config/demo-json.toml's title and link), each pagecrawl's CPU per
    page; and beside them Scrapy's `response.json()` spider on the same API. Every output is
    checked by `demo --verify`.
    """
    pages = 400 if options.quick else JSON_PAGES
    rows = []

    def run(name, argv, work, out, extra):
        stderr_path = work / "stderr.log"
        code, timed_out, cpu_s, rss_mib, wall_s = measured(argv, stderr_path)
        check = verify(out, pages)
        ok = code == 0 and check is not None and check["missing"] == 0 \
            and check["duplicated"] == 0 and check["unexpected"] == 0
        row = {"run": name, "exit": code, "timed_out": timed_out, "ok": ok,
               "wall_s": round(wall_s, 3), "cpu_s": round(cpu_s, 3),
               "cpu_ms_per_page": round(cpu_s / pages * 1000, 3),
               "pages_per_s": round(pages / wall_s, 1), "peak_rss_mib": rss_mib}
        row.update(extra)
        print(f"  {name:40} exit {code}  {row['cpu_ms_per_page']:.3f} CPU ms/page  "
              f"{row['pages_per_s']} pages/s  {'ok' if ok else 'INCOMPLETE'}", flush=True)
        if not ok:
            print(f"    stderr: {stderr_tail(stderr_path)}", flush=True)
        rows.append(row)

    for json_pages in (False, True):
        with Site(pages, 0, extra=["--json"] if json_pages else []) as site, \
                tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            work = Path(tmp)
            out = fresh_output(work)
            config = pagecrawl_config(work, site.url, pages, 8, out)
            if json_pages:
                text = config.read_text()
                before, rest = text.split("[extract]\n", 1)
                after = rest.split("\n[output]", 1)[1]
                extract = (ROOT / "config" / "demo-json.toml").read_text()
                # The same two fields as the HTML row: title and link.
                extract = re.sub(r"(?m)^(rank|price|tags) = .*\n", "", extract)
                config.write_text(f"{before}{extract}\n[output]{after}")
            argv = [str(PAGECRAWL), "run", "--config", str(config), "--fresh"]
            kind = "JSON" if json_pages else "HTML"
            run(f"pagecrawl, {kind} pages", argv, work, out,
                {"crawler": "pagecrawl", "format": kind.lower()})
            if json_pages:
                out = fresh_output(work)
                argv = command("scrapy", site.url, pages, 8, out, work) + ["-a", "json=1"]
                run("scrapy response.json(), JSON pages", argv, work, out,
                    {"crawler": "scrapy", "format": "json"})
    results["json"] = rows


def verify(out, pages):
    """`pagecrawl demo --verify` of an output against the site of `pages` pages, or None."""
    check = subprocess.run([str(PAGECRAWL), "demo", "--verify", str(out), "--pages", str(pages)],
                           capture_output=True, text=True)
    try:
        return json.loads(check.stdout)
    except ValueError:
        return None


WATCH_PAGES = 4000       # the watched listing: 100,000 books
WATCH_MILLION = 40000    # one million keys, 25 books a page


def section_watch(results, options):
    """Watch mode (`output.key = "link"`, `output.changes`, conditional requests) over rounds,
    each a `pagecrawl run --once` of its own, so that its CPU (user+sys, from wait4) is its
    own. `demo --serve --etags` serves the listing with ETags:

    - round 1 on 4,000 pages (every book new), then round 2 with nothing changed (every page
      answers 304): round 2's CPU and bytes received against round 1's (targets: at most 10 %
      and 5 %). Bytes are the response bodies the summary counts (`bytes`); a 304 has none,
      and its ~150 bytes of headers are left out of both rounds;
    - round 3 after 1 % of the prices moved (the site restarted on the same port with
      `--edition 1`): its events checked by `demo --verify-changes` (target: exactly those);
    - one million keys (40,000 pages): the first round's peak RSS and the store's size.
    """
    pages = 400 if options.quick else WATCH_PAGES
    million = 2000 if options.quick else WATCH_MILLION
    rows = []
    port = free_port()

    def config(work, url, pages, out):
        # The demo's own config whole (the price is what moves), keyed by the link.
        path = work / "watch.toml"
        text = ((ROOT / "config" / "demo.toml").read_text()
                .replace("{url}", json.dumps(url))
                .replace("{last_page}", str(pages - 1))
                .replace("{out}", json.dumps(str(out)))
                .replace("[output]\n", '[output]\nkey = "link"\nchanges = true\n', 1))
        path.write_text(text + "\n[schedule]\nevery_secs = 3600\n")
        return [str(PAGECRAWL), "run", "--config", str(path), "--once"]

    def round_run(name, argv, work, store):
        stderr_path = work / f"stderr-{len(rows)}.log"
        # The summary line (pagecrawl::stats at info) holds the bytes and the events.
        code, timed_out, cpu_s, rss_mib, wall_s = measured(argv, stderr_path,
                                                           "warn,pagecrawl::stats=info")
        summary = summary_line(stderr_path)
        store_bytes = sum(f.stat().st_size for f in store.parent.glob(store.name + "*"))
        row = {"run": name, "exit": code, "timed_out": timed_out, "cpu_s": round(cpu_s, 3),
               "wall_s": round(wall_s, 3), "peak_rss_mib": rss_mib,
               "bytes": int(summary.get("bytes", 0)),
               "not_modified": int(summary.get("pages_not_modified", 0)),
               "new": int(summary.get("items_new", 0)),
               "changed": int(summary.get("items_changed", 0)),
               "gone": int(summary.get("items_gone", 0)),
               "store_mib": round(store_bytes / (1 << 20), 1)}
        print(f"  {name:44} exit {code}  {cpu_s:.3f} CPU s  {row['bytes']} bytes  "
              f"{row['not_modified']} not modified  {row['new']} new  {row['changed']} changed",
              flush=True)
        if code != 0:
            print(f"    stderr: {stderr_tail(stderr_path)}", flush=True)
        rows.append(row)
        return row

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        out = work / "watch.jsonl"
        store = work / "watch.db"
        with Site(pages, 0, extra=["--etags"], port=port) as site:
            argv = config(work, site.url, pages, out)
            round_run(f"round 1: {pages} pages, every book new", argv, work, store)
            round_run("round 2: nothing changed (every page 304)", argv, work, store)
        with Site(pages, 0, extra=["--etags", "--edition", "1"], port=port) as site:
            third = round_run("round 3: 1 % of the prices moved", argv, work, store)
        check = subprocess.run(
            [str(PAGECRAWL), "demo", "--verify-changes", str(out), "--pages", str(pages),
             "--edition", "1"], capture_output=True, text=True)
        third["verified"] = json.loads(check.stdout) if check.stdout.strip() else None
        third["exact"] = check.returncode == 0
        print(f"    events checked: {check.stdout.strip()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        out = work / "million.jsonl"
        with Site(million, 0, extra=["--etags"]) as site:
            argv = config(work, site.url, million, out)
            round_run(f"{million * ITEMS_PER_PAGE:,} keys: round 1", argv, work,
                      work / "million.db")
    results["watch"] = rows


def summary_line(stderr_path):
    """The counters of the last summary line in a run's stderr, as a dict of strings."""
    fields = {}
    for line in stderr_path.read_text(errors="replace").splitlines():
        if "summary:" in line:
            fields = dict(pair.split("=", 1) for pair in line.split("summary:", 1)[1].split()
                          if "=" in pair)
    return fields


SECTIONS = {
    "matrix": section_matrix,
    "shutdown": section_shutdown,
    "memory": section_memory,
    "soak": section_soak,
    "detail": section_detail,
    "spread": section_spread,
    "watch": section_watch,
    "json": section_json,
}



def main():
    """Runs the chosen sections, then checks the targets and writes the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a small smoke version of each section (a couple of minutes)")
    parser.add_argument("--only", choices=list(SECTIONS), action="append",
                        help="run only this section (repeatable); default: all of them")
    parser.add_argument("--cell", type=matrix_cell, action="append",
                        metavar="LATENCY_MS,THREADS,PAGES",
                        help="run only this cell of the matrix, every crawler in it "
                             "(repeatable; e.g. 0,8,4000)")
    args = parser.parse_args()
    for binary in (PAGECRAWL, SPIDER_PEER):
        if not binary.exists():
            sys.exit(f"bench: {binary} does not exist; run scripts/bench.sh, which builds it")
    sections = args.only or list(SECTIONS)
    results = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "quick": args.quick, "sections": sections, "cells": args.cell,
               "machine": machine(), "versions": versions()}
    for name in sections:
        print(f"== {name}{' (quick)' if args.quick else ''}", flush=True)
        started = time.monotonic()
        SECTIONS[name](results, args)
        print(f"   {name} took {time.monotonic() - started:.0f} s", flush=True)
    results["machine"]["loadavg_after"] = load_average()
    results["targets"] = targets(results)
    write_results(results)


if __name__ == "__main__":
    main()
