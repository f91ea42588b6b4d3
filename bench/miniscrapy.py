"""miniScrapy: a faithful port of the classic Python teaching crawler, the benchmark's baseline.

threading + requests + queue.Queue + lxml: crawl threads fetch pages into a queue, parse threads
take them out, and every parse thread appends to the one shared output file behind a lock. It is
kept exactly in the shape of the original, including what makes it slow and fragile (on purpose,
do not fix any of it):

- the main thread busy-waits on `queue.empty()` to decide when a stage is done, holding the GIL
  against the workers;
- workers spin on `get(False)` inside a bare `except: pass`, so an idle worker burns CPU, a failed
  request silently drops its page, and an exception while parsing drops the rest of the page;
- requests are made without a timeout (a stalled server hangs a crawl thread, and then the whole
  program, forever) and without retries;
- the fetched pages wait in an unbounded queue, so memory grows with the crawl when the parse
  threads fall behind.

The original puts only the HTML in the data queue, so the items carry no page number.

Usage: miniscrapy.py --url TEMPLATE --pages N --out PATH [--crawlers 3] [--parsers 3]
TEMPLATE holds `{offset}` (page * 25) and/or `{page}`.
"""

import argparse
import json
import threading
from queue import Queue

import requests
from lxml import etree

CRAWL_EXIT = False
PARSE_EXIT = False

# CSS `div.pl2` as XPath, and the first `a` inside it.
ITEM_XPATH = '//div[contains(concat(" ", normalize-space(@class), " "), " pl2 ")]'
ANCHOR_XPATH = ".//a"


class ThreadCrawl(threading.Thread):
    """Takes page numbers from the page queue, fetches them, puts the HTML in the data queue."""

    def __init__(self, thread_name, page_queue, data_queue, url):
        super().__init__()
        self.thread_name = thread_name
        self.page_queue = page_queue
        self.data_queue = data_queue
        self.url = url
        self.headers = {"User-Agent": "Mozilla/5.0 (miniScrapy)"}

    def run(self):
        """Spins until the main thread sets CRAWL_EXIT."""
        while not CRAWL_EXIT:
            try:
                page = self.page_queue.get(False)
                url = self.url.replace("{offset}", str(page * 25)).replace("{page}", str(page))
                html = requests.get(url, headers=self.headers).text
                self.data_queue.put(html)
            except:  # noqa: E722 -- the original's bare except, kept on purpose
                pass


class ThreadParse(threading.Thread):
    """Takes HTML from the data queue, extracts the items and appends them to the shared file."""

    def __init__(self, thread_name, data_queue, out, lock):
        super().__init__()
        self.thread_name = thread_name
        self.data_queue = data_queue
        self.out = out
        self.lock = lock

    def run(self):
        """Spins until the main thread sets PARSE_EXIT."""
        while not PARSE_EXIT:
            try:
                html = self.data_queue.get(False)
                self.parse(html)
            except:  # noqa: E722 -- the original's bare except, kept on purpose
                pass

    def parse(self, html):
        """Writes one JSON line per `div.pl2`: the first link's text (whitespace collapsed)."""
        root = etree.HTML(html)
        for node in root.xpath(ITEM_XPATH):
            anchor = node.xpath(ANCHOR_XPATH)[0]
            item = {
                "title": " ".join("".join(anchor.itertext()).split()),
                "link": anchor.get("href"),
            }
            with self.lock:
                self.out.write(json.dumps(item, ensure_ascii=False) + "\n")


def main():
    """Starts the threads, busy-waits for each stage to look finished, and stops them."""
    global CRAWL_EXIT, PARSE_EXIT
    parser = argparse.ArgumentParser(description="miniScrapy, the teaching crawler")
    parser.add_argument("--url", required=True, help="page URL with {offset} and/or {page}")
    parser.add_argument("--pages", type=int, required=True, help="crawls pages 0..N-1")
    parser.add_argument("--out", required=True, help="JSON Lines output, appended to")
    parser.add_argument("--crawlers", type=int, default=3, help="crawl threads")
    parser.add_argument("--parsers", type=int, default=3, help="parse threads")
    args = parser.parse_args()

    page_queue = Queue(args.pages)
    for page in range(args.pages):
        page_queue.put(page)
    data_queue = Queue()
    out = open(args.out, "a", encoding="utf-8")
    lock = threading.Lock()

    crawl_threads = []
    for i in range(args.crawlers):
        thread = ThreadCrawl(f"crawl-{i + 1}", page_queue, data_queue, args.url)
        thread.start()
        crawl_threads.append(thread)
    parse_threads = []
    for i in range(args.parsers):
        thread = ThreadParse(f"parse-{i + 1}", data_queue, out, lock)
        thread.start()
        parse_threads.append(thread)

    while not page_queue.empty():
        pass
    CRAWL_EXIT = True
    for thread in crawl_threads:
        thread.join()

    while not data_queue.empty():
        pass
    PARSE_EXIT = True
    for thread in parse_threads:
        thread.join()

    with lock:
        out.close()


if __name__ == "__main__":
    main()
