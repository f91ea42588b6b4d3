#!/usr/bin/env python3
"""Where pagecrawl's CPU goes: a perf profile of `pagecrawl demo`, its top entries as Markdown.

Started by scripts/profile.sh, which builds the `dist` binary (release plus fat LTO, with its
symbols and line tables: the release profile keeps them) and checks that perf is there. Uses the
helpers of bench/run.py.

What it does
------------
It runs `perf record` on `pagecrawl demo --pages N` (the demo site in the same process, 8
crawlers, the default parsers, latency 0), sampling every thread on the CPU clock at 997 Hz.
The CPU clock, not the cycle counter: this machine's virtual CPUs expose no hardware counters
(`perf stat -e instructions true` says "not supported"), and the software clock needs none.
Call graphs are recorded with DWARF unwinding, as the binary has no frame pointers, so that
`perf report -i out/profile/perf.data` can show the callers of any entry afterwards.

How to read the output
----------------------
The Markdown printed (and written to --out) has the demo's own summary line, the samples per
thread group (crawler, parser, writer, main, the demo site's threads), then the crawl's own
threads' samples by crate and their top entries by self time (time spent in the function
itself, not in what it calls). The demo site serves the pages from the same process, and the main thread checks the
output against it at the end: both are left out of the top entries, as a real crawl has
neither. One sample is about 1 ms of CPU; entries with a handful of samples are noise.
"""

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PAGECRAWL, ROOT, load_average, machine, output_of  # noqa: E402

DATA = ROOT / "out" / "profile" / "perf.data"  # out/ is git-ignored
FREQUENCY_HZ = 997  # prime, so that the sampling does not beat with a periodic timer
SITE_THREADS = "demo-site"  # the prefix of the demo site's thread names (crates/demo-site)
MAIN_THREAD = "pagecrawl"  # the process's first thread, named after the binary


def record(pages, work):
    """Runs the demo under `perf record`; returns the demo's own output lines."""
    DATA.parent.mkdir(parents=True, exist_ok=True)
    argv = ["perf", "record", "-F", str(FREQUENCY_HZ), "-e", "cpu-clock",
            "--call-graph", "dwarf,16384", "-o", str(DATA), "--",
            str(PAGECRAWL), "demo", "--pages", str(pages), "--out", str(work / "demo.jsonl")]
    done = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, "RUST_LOG": "warn"})
    if done.returncode != 0:
        sys.exit(f"profile: `{' '.join(argv)}` exited with code {done.returncode}:\n"
                 f"{done.stderr[-2000:]}")
    return [line for line in done.stdout.splitlines() if line.strip()]


def samples_by(sort_keys):
    """perf report's sample counts per (comm, ...) key, as a Counter of tuples.

    `sort_keys` is perf's --sort list, comm first. Self time only (--no-children), no call
    graphs in the listing, tab-separated fields (symbols may hold commas and spaces).
    """
    fields = ["sample"] + sort_keys
    done = subprocess.run(
        ["perf", "report", "-i", str(DATA), "--no-children", "-g", "none", "--stdio",
         "--sort", ",".join(sort_keys), "-F", ",".join(fields), "-t", "\t"],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"profile: perf report exited with code {done.returncode}: {done.stderr[-2000:]}")
    counts = Counter()
    for line in done.stdout.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split("\t")]
        if len(parts) != len(fields):
            continue
        counts[tuple(parts[1:])] += int(parts[0])
    return counts


def thread_group(comm):
    """A thread's group: its name without the worker number (crawler-3 -> crawler)."""
    if comm == MAIN_THREAD:
        return "main (set-up, then the demo's check of its output)"
    return re.sub(r"-\d+$", "", comm)


def is_crawl(comm):
    """True for the crawl's own threads: not the demo site's, not the main thread's.

    The main thread sets up, waits for the pipeline, then reads the whole output back to check
    it against the site (`demo::verify`): work a real crawl does not do.
    """
    return comm != MAIN_THREAD and not comm.startswith(SITE_THREADS)


def symbol_name(symbol):
    """perf's symbol column without its `[.] ` / `[k] ` marker; kernel ones say so."""
    if symbol.startswith("[k] "):
        symbol = f"{symbol[4:]} (kernel)"
    elif symbol.startswith("[.] "):
        symbol = symbol[4:]
    return symbol.replace("|", "\\|")  # a bar would end the Markdown table's cell


def report(pages, top, demo_lines):
    """The Markdown report of the recorded profile."""
    by_comm = samples_by(["comm"])
    total = sum(by_comm.values())
    if total == 0:
        sys.exit("profile: perf recorded no samples")
    groups = Counter()
    for (comm,), n in by_comm.items():
        groups[thread_group(comm)] += n
    ours = sum(n for (comm,), n in by_comm.items() if is_crawl(comm))
    if ours == 0:
        sys.exit("profile: perf recorded no samples of the crawl's threads")

    by_symbol = Counter()
    for (comm, dso, symbol), n in samples_by(["comm", "dso", "sym"]).items():
        if is_crawl(comm):
            by_symbol[(symbol_name(symbol), dso)] += n

    m = machine()
    lines = [
        f"# Profile of `pagecrawl demo --pages {pages}`", "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- pagecrawl {output_of(['git', '-C', str(ROOT), 'describe', '--always', '--dirty'])} "
        f"(its code last changed in {source_commit()}; `dist` profile), "
        f"{output_of(['rustc', '--version'])}, {output_of(['perf', '--version'])}, "
        f"{m['nproc']} cores ({m['cpu']}), 1-minute load average {load_average()} after the run",
        f"- command: `perf record -F {FREQUENCY_HZ} -e cpu-clock --call-graph dwarf "
        f"target/dist/pagecrawl demo --pages {pages}` (regenerate with "
        f"`scripts/profile.sh {pages}`)",
        *[f"- the demo said: `{line}`" for line in demo_lines], "",
        f"{total} samples, about {total / FREQUENCY_HZ:.2f} s of CPU "
        f"({total / FREQUENCY_HZ / pages * 1000:.2f} ms per page in all; the crawl's own threads "
        f"{ours / FREQUENCY_HZ / pages * 1000:.2f} ms per page).", "",
        "## Samples per thread group", "",
        "| threads | samples | share |", "| --- | ---: | ---: |"]
    for group, n in groups.most_common():
        lines.append(f"| {group} | {n} | {n / total:.1%} |")
    by_crate = Counter()
    for (symbol, dso), n in by_symbol.items():
        by_crate[crate_of(symbol, dso)] += n
    lines += ["", "## The crawl's threads by crate (self time)", "",
              "The crate a function's path starts with (generic code is counted where it was "
              "defined, inlined code where it ended up).", "",
              "| crate | samples | share |", "| --- | ---: | ---: |"]
    for crate, n in by_crate.most_common():
        lines.append(f"| {crate} | {n} | {n / ours:.1%} |")
    lines += [
        "", f"## Top {top} entries by self time, the crawl's threads", "",
        f"Share of the {ours} samples of the crawl's threads (crawlers, parsers, writer, feeder "
        "…; not the demo site's, not the main thread's); `[unknown]` is code perf found no "
        "symbol for.", "",
        "| # | self | samples | function | object |", "| ---: | ---: | ---: | --- | --- |"]
    for rank, ((symbol, dso), n) in enumerate(by_symbol.most_common(top), 1):
        lines.append(f"| {rank} | {n / ours:.1%} | {n} | `{symbol}` | {dso} |")
    return "\n".join(lines) + "\n"


def crate_of(symbol, dso):
    """The crate (or library) a symbol belongs to, for the by-crate table."""
    if dso == "[kernel.kallsyms]":
        return "the kernel (system calls, page faults, scheduling)"
    if dso.startswith("libc"):
        return "glibc (malloc, free, memcpy …)"
    if dso != PAGECRAWL.name:
        return dso
    match = re.match(r"<*([A-Za-z_][A-Za-z0-9_]*)::", symbol)
    return match.group(1) if match else "other (no crate path in the symbol)"


def source_commit():
    """The last commit that changed pagecrawl's code (src/, the manifest or the lock file).

    The profile's subject, whatever other commits (benchmark scripts, docs) came after it.
    """
    return output_of(["git", "-C", str(ROOT), "log", "-1", "--format=%h", "--",
                      "src", "Cargo.toml", "Cargo.lock"])


def main():
    """Records the profile, prints the report and writes it to --out if given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="?", type=int, default=4000,
                        help="pages the demo crawls (default 4000)")
    parser.add_argument("--top", type=int, default=25, help="entries in the table (default 25)")
    parser.add_argument("--out", type=Path, help="also write the Markdown to this file")
    args = parser.parse_args()
    if not PAGECRAWL.exists():
        sys.exit(f"profile: {PAGECRAWL} does not exist; run scripts/profile.sh, which builds it")
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        demo_lines = record(args.pages, Path(tmp))
    markdown = report(args.pages, args.top, demo_lines)
    print(markdown)
    if args.out:
        args.out.write_text(markdown)
        print(f"wrote {args.out}")
    print(f"perf data in {DATA.relative_to(ROOT)}: `perf report -i {DATA.relative_to(ROOT)}` "
          "shows the callers of each entry")


if __name__ == "__main__":
    main()
