"""miniScrapy: a faithful port of the classic Python teaching crawler, the benchmark's baseline.

threading + requests + queue.Queue + lxml, crawl threads and parse threads, exactly the shape of
the original, including what makes it lose data and burn CPU (kept on purpose, do not fix):
- the main thread busy-waits on `queue.empty()` to decide when a stage is done;
- workers spin on `get(False)` with a bare `except: pass`, so a failed request silently drops
  its page and an exception in parsing drops the page's items;
- parse threads are told to quit as soon as the data queue *looks* empty, while a page may still
  be between `get` and `parse`, or a crawl thread still about to `put`;
- every parse thread writes the one output file (behind a lock, as the original did);
- requests without a timeout.
Usage: miniscrapy.py --url TEMPLATE --pages N --out PATH [--crawlers 3] [--parsers 3]
"""

import argparse
import json
import threading
from queue import Queue

import requests
from lxml import etree

CRAWL_EXIT = False
PARSE_EXIT = False


class ThreadCrawl(threading.Thread):
    def __init__(self, thread_name, page_queue, data_queue, url):
        super().__init__()
        self.thread_name = thread_name
        self.page_queue = page_queue
        self.data_queue = data_queue
        self.url = url
        self.headers = {"User-Agent": "Mozilla/5.0 (miniScrapy)"}

    def run(self):
        while not CRAWL_EXIT:
            try:
                page = self.page_queue.get(False)
                url = self.url.replace("{offset}", str(page * 25)).replace("{page}", str(page))
                content = requests.get(url, headers=self.headers).text
                self.data_queue.put((page, content))
            except Exception:
                pass


class ThreadParse(threading.Thread):
    def __init__(self, thread_name, data_queue, out, lock):
        super().__init__()
        self.thread_name = thread_name
        self.data_queue = data_queue
        self.out = out
        self.lock = lock

    def run(self):
        while not PARSE_EXIT:
            try:
                page, html = self.data_queue.get(False)
                self.parse(page, html)
            except Exception:
                pass

    def parse(self, page, html):
        root = etree.HTML(html)
        for node in root.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " pl2 ")]'):
            anchor = node.xpath(".//a")[:1]
            title = " ".join("".join(anchor[0].itertext()).split()) if anchor else None
            item = {"page": page, "title": title, "link": anchor[0].get("href") if anchor else None}
            with self.lock:
                self.out.write(json.dumps(item, ensure_ascii=False) + "\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--pages", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--crawlers", type=int, default=3)
    parser.add_argument("--parsers", type=int, default=3)
    args = parser.parse_args()

    page_queue = Queue(args.pages)
    for page in range(args.pages):
        page_queue.put(page)
    data_queue = Queue()
    out = open(args.out, "a", encoding="utf-8")
    lock = threading.Lock()

    crawlers = [ThreadCrawl(f"crawl-{i}", page_queue, data_queue, args.url)
                for i in range(args.crawlers)]
    for t in crawlers:
        t.start()
    parsers = [ThreadParse(f"parse-{i}", data_queue, out, lock) for i in range(args.parsers)]
    for t in parsers:
        t.start()

    while not page_queue.empty():
        pass
    global CRAWL_EXIT
    CRAWL_EXIT = True
    for t in crawlers:
        t.join()

    while not data_queue.empty():
        pass
    global PARSE_EXIT
    PARSE_EXIT = True
    for t in parsers:
        t.join()
    with lock:
        out.close()


if __name__ == "__main__":
    main()
