"""The benchmark's Scrapy peer: the same job as pagecrawl, done the usual Scrapy way.

Run by bench/run.py as
    scrapy runspider bench/scrapy_spider.py -a url=TEMPLATE -a pages=N -a threads=T -a out=PATH
TEMPLATE holds `{offset}` (page * 25) and/or `{page}`. The spider requests pages 0..N-1 by number
(all yielded at the start; Scrapy's scheduler keeps T of them in flight), extracts one item per
`div.pl2` with the first `a`'s text, whitespace collapsed, as `title` and its `href` as `link`,
and writes a JSON Lines feed to PATH. With `-a follow=1` each item's detail page is requested
too and its `strong.rating_num` added as `rating` (the benchmark's list + detail row). With
`-a json=1` the pages are the demo's JSON API (`demo --serve --json`): each item of
`response.json()["items"]` gives its `title` and `link` (the benchmark's JSON row).

Settings: CONCURRENT_REQUESTS = CONCURRENT_REQUESTS_PER_DOMAIN = T, no download delay, no
robots.txt, no AutoThrottle, no telnet console or remote control, no cookies, log level WARNING;
retries, the dupe filter and everything else stay at Scrapy's defaults.
"""

import scrapy


class ListingSpider(scrapy.Spider):
    """Pages 0..N-1 of a page-numbered listing, 25 items per page."""

    name = "listing"

    custom_settings = {
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        # Scrapy 2.19's code-execution HTTP server (the telnet console's successor), off likewise.
        "REMOTE_CONTROL_ENABLED": False,
        "COOKIES_ENABLED": False,
        "LOG_LEVEL": "WARNING",
    }

    def __init__(self, url, pages, threads, out, follow="0", json="0", **kwargs):
        super().__init__(**kwargs)
        self.follow = follow == "1"
        self.json = json == "1"
        self.url = url
        self.pages = int(pages)
        self.threads = int(threads)
        self.out = out

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        """Applies the settings that depend on the spider arguments (threads, output path)."""
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        settings.set("CONCURRENT_REQUESTS", spider.threads, priority="spider")
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", spider.threads, priority="spider")
        settings.set(
            "FEEDS",
            {spider.out: {"format": "jsonlines", "encoding": "utf8", "overwrite": True}},
            priority="spider",
        )
        return spider

    async def start(self):
        """Yields the request of every page (Scrapy >= 2.13's replacement of start_requests)."""
        for page in range(self.pages):
            url = self.url.replace("{offset}", str(page * 25)).replace("{page}", str(page))
            yield scrapy.Request(url, cb_kwargs={"page": page})

    def parse(self, response, page):
        """One item per `div.pl2`: the first link's text and href (or, on the JSON API, one per
        element of `items`)."""
        if self.json:
            for entry in response.json()["items"]:
                yield {"page": page, "title": entry["title"], "link": entry["link"]}
            return
        for node in response.css("div.pl2"):
            anchor = node.css("a")[:1]
            if not anchor:
                continue
            item = {
                "page": page,
                "title": " ".join(anchor.xpath("string()").get().split()),
                "link": anchor.attrib.get("href"),
            }
            if self.follow:
                yield response.follow(item["link"], callback=self.parse_detail,
                                      cb_kwargs={"item": item})
            else:
                yield item

    def parse_detail(self, response, item):
        """With `-a follow=1`: the detail page's rating, as pagecrawl's `[follow.fields]`."""
        rating = response.css("strong.rating_num::text").get()
        item["rating"] = float(rating) if rating else None
        yield item
