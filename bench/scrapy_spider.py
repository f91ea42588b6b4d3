"""The benchmark's Scrapy peer: the same job as pagecrawl, done the Scrapy way.

Run by bench/run.py as
    scrapy runspider bench/scrapy_spider.py -a url=TEMPLATE -a pages=N -a threads=T -a out=PATH
Requests pages 0..N-1 by number (all scheduled at start), extracts `div.pl2` items with the first
`a`'s whitespace-normalised text as `title` and its `href` as `link`, and writes JSON Lines.
CONCURRENT_REQUESTS = the thread count, no delay, no robots.txt, no AutoThrottle.
"""

import scrapy


class ListingSpider(scrapy.Spider):
    name = "listing"

    def __init__(self, url, pages, threads, out, **kwargs):
        super().__init__(**kwargs)
        self.url = url
        self.pages = int(pages)
        self.out = out

    @classmethod
    def update_settings(cls, settings):
        super().update_settings(settings)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        threads = int(kwargs["threads"])
        crawler.settings.frozen = False
        crawler.settings.set("CONCURRENT_REQUESTS", threads, priority="spider")
        crawler.settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", threads, priority="spider")
        crawler.settings.set(
            "FEEDS",
            {kwargs["out"]: {"format": "jsonlines", "encoding": "utf8", "overwrite": True}},
            priority="spider",
        )
        return super().from_crawler(crawler, *args, **kwargs)

    custom_settings = {
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "AUTOTHROTTLE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    }

    async def start(self):
        for page in range(self.pages):
            yield scrapy.Request(
                self.url.replace("{offset}", str(page * 25)).replace("{page}", str(page)),
                cb_kwargs={"page": page},
            )

    def parse(self, response, page):
        for item in response.css("div.pl2"):
            anchor = item.css("a")[:1]
            title = " ".join("".join(anchor.css("*::text").getall()).split()) if anchor else None
            yield {
                "page": page,
                "title": title,
                "link": anchor.attrib.get("href") if anchor else None,
            }
