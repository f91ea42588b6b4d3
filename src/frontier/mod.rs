//! The shared frontier: several daemons crawl one page range through Redis.
//!
//! Page numbers are entries of a Redis stream read by one consumer group; every daemon is a
//! consumer. Delivery is at least once, with leases:
//!
//! - the feeder takes pages with `XREADGROUP` and puts them in the same bounded `pages` channel
//!   as the local feeder; crawlers, parsers and the writer do not know where pages come from;
//! - a page is acknowledged (`XACK`), and added to the done-set, only after the writer has
//!   committed its items to the local output: the [`Acker`] hears of commits from the writer;
//! - a page a daemon took but did not acknowledge within `lease_secs` (it died, or was killed)
//!   is taken over by another with `XAUTOCLAIM`; a daemon renews the leases of the pages still
//!   in its own pipeline, so a slow page is not taken from a live daemon;
//! - "until empty" works across daemons: the range is added to the stream a window at a time,
//!   and the lowest empty page any daemon saw is the end for all.
//!
//! Keys, for a crawl named `books`: `pagecrawl:books:pages` (the stream; group `crawlers`),
//! `…:meta` (a hash: the crawl's fingerprint, range, next page to add, end), `…:done` (a set of
//! committed pages), `…:failed` (a hash: page → reason) and `…:seen` (a set of dedup keys).
//!
//! A daemon that loses Redis keeps what it has: it retries with backoff, logs, and never
//! acknowledges a page that is not committed. A committed page that could not be acknowledged
//! is fetched again by someone after its lease: a duplicate, never a loss.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam_channel::{Receiver, Sender, select};
use log::{debug, info, warn};
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoGroupsReply, StreamPendingReply, StreamReadReply,
};
use redis::{Commands, Connection, RedisResult, Script};

use crate::config::{Config, RedisFrontierConfig};
use crate::listing::ListingEnd;
use crate::shutdown::{PanicGuard, Shutdown};
use crate::stats::{Queue, Stats};
use crate::store::seen::Key;

/// The consumer group every daemon joins.
const GROUP: &str = "crawlers";

/// Pages added to the stream at a time in "until empty" mode: like the local feeder, a daemon
/// fetches at most about this many pages past the end of the listing.
const WINDOW_UNTIL_EMPTY: u64 = 64;

/// Pages added at a time for a known range.
const WINDOW_RANGE: u64 = 1024;

/// Entries asked for per read.
const READ_COUNT: usize = 16;

/// How long a read waits for new entries before the feeder looks around again.
const READ_BLOCK: Duration = Duration::from_millis(250);

/// The longest pause between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the acker keeps trying at the end of a crawl before it gives up on Redis (the
/// pages stay unacknowledged and are fetched again by another daemon after their lease).
const ACK_DEADLINE: Duration = Duration::from_secs(30);

/// The keys of one crawl.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The stream of page numbers.
    pub pages: String,
    /// The crawl's hash: `fp`, `first`, `last`, `next`, `end`.
    pub meta: String,
    /// Committed pages.
    pub done: String,
    /// Failed pages and why.
    pub failed: String,
    /// Dedup keys of written items.
    pub seen: String,
}

impl Keys {
    /// The keys of the crawl named `name`.
    pub fn new(name: &str) -> Keys {
        let key = |suffix: &str| format!("pagecrawl:{name}:{suffix}");
        Keys {
            pages: key("pages"),
            meta: key("meta"),
            done: key("done"),
            failed: key("failed"),
            seen: key("seen"),
        }
    }
}

/// A connection to the frontier's Redis that reconnects and retries with backoff.
pub struct Link {
    /// The server.
    client: redis::Client,
    /// Its URL, for messages.
    url: String,
    /// The live connection, if any.
    conn: Option<Connection>,
}

impl Link {
    /// Connects, failing at once with a message naming `frontier.url` if Redis cannot be
    /// reached: the check at start.
    pub fn connect(cfg: &RedisFrontierConfig) -> Result<Link> {
        let client = redis::Client::open(cfg.url.as_str())
            .with_context(|| format!("`frontier.url` {:?} is not a Redis URL", cfg.url))?;
        let mut link = Link {
            client,
            url: cfg.url.clone(),
            conn: None,
        };
        let pong: String = link
            .try_once(|c| redis::cmd("PING").query(c))
            .with_context(|| format!("cannot reach the frontier at `frontier.url` {}", cfg.url))?;
        debug!("frontier {}: {pong}", cfg.url);
        Ok(link)
    }

    /// Runs `f` once, connecting first if needed; a failed connection is dropped.
    fn try_once<T>(&mut self, f: impl FnOnce(&mut Connection) -> RedisResult<T>) -> Result<T> {
        if self.conn.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(Duration::from_secs(5))
                .with_context(|| format!("connecting to {}", self.url))?;
            conn.set_read_timeout(Some(Duration::from_secs(10)))?;
            conn.set_write_timeout(Some(Duration::from_secs(10)))?;
            self.conn = Some(conn);
        }
        let conn = self.conn.as_mut().expect("connected above");
        match f(conn) {
            Ok(value) => Ok(value),
            Err(err) => {
                if err.is_connection_dropped() || err.is_io_error() || err.is_timeout() {
                    self.conn = None;
                }
                Err(err.into())
            }
        }
    }

    /// Runs `f` until it succeeds, backing off between attempts; gives up when `stop` says so
    /// (checked before each retry) and returns the last error.
    fn retry<T>(
        &mut self,
        what: &str,
        mut stop: impl FnMut(Duration) -> bool,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.try_once(&mut f) {
                Ok(value) => return Ok(value),
                Err(err) => {
                    warn!(
                        "frontier {}: {what}: {err:#}; retrying in {backoff:?}",
                        self.url
                    );
                    if stop(backoff) {
                        return Err(err.context(format!("frontier {}: {what}", self.url)));
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// Waits `pause` unless `shutdown` is requested first; returns whether it was.
fn pause_or_shutdown(shutdown: &Shutdown, pause: Duration) -> bool {
    if shutdown.is_requested() {
        return true;
    }
    select! {
        recv(shutdown.waker()) -> _ => true,
        default(pause) => shutdown.is_requested(),
    }
}

/// What `seed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seeded {
    /// The crawl was new: this many pages were added (the first window in "until empty" mode).
    Now(u64),
    /// It was seeded before, by this or another daemon; failed pages put back, if any.
    Already {
        /// Failed pages put back in the stream.
        requeued: u64,
    },
}

/// The fingerprint that all daemons of one crawl must share: the site, the range and the
/// extraction rules.
fn fingerprint(config: &Config) -> String {
    let fp = config.fingerprint();
    format!(
        "{} {}..{} size={} item={:?} fields={:?}",
        fp.url,
        fp.first_page,
        fp.last_page.map_or(String::new(), |l| l.to_string()),
        fp.page_size,
        fp.item,
        fp.fields
    )
}

/// Creates the crawl in Redis if it is new (atomically, so that of several daemons starting
/// together exactly one seeds it), or checks that it is the same crawl. With `requeue_failed`,
/// pages that failed before are put back in the stream.
pub fn seed(link: &mut Link, config: &Config, keys: &Keys, requeue_failed: bool) -> Result<Seeded> {
    let group: Result<()> = link.try_once(|c| {
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&keys.pages)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query(c)
    });
    if let Err(err) = group
        && !format!("{err:#}").contains("BUSYGROUP")
    {
        return Err(err.context(format!("creating the consumer group of {}", keys.pages)));
    }
    let script = Script::new(
        r"
        local fp = redis.call('HGET', KEYS[2], 'fp')
        if fp then
            if fp ~= ARGV[1] then return {-1, fp} end
            return {0, ''}
        end
        local first = tonumber(ARGV[2])
        local stop = first + tonumber(ARGV[4]) - 1
        if ARGV[3] ~= '' then stop = math.min(stop, tonumber(ARGV[3])) end
        stop = math.min(stop, tonumber(ARGV[5]))
        for p = first, stop do redis.call('XADD', KEYS[1], '*', 'page', p) end
        redis.call('HSET', KEYS[2], 'fp', ARGV[1], 'first', first, 'last', ARGV[3], 'next', stop + 1)
        return {stop - first + 1, ''}
        ",
    );
    let fp = fingerprint(config);
    let last = config
        .site
        .last_page
        .map_or(String::new(), |l| l.to_string());
    let (window, max_page) = match config.site.last_page {
        Some(_) => (WINDOW_RANGE, u64::MAX),
        None => (WINDOW_UNTIL_EMPTY, config.site.max_page()),
    };
    let (added, other): (i64, String) = link.try_once(|c| {
        script
            .key(&keys.pages)
            .key(&keys.meta)
            .arg(&fp)
            .arg(config.site.first_page)
            .arg(&last)
            .arg(window)
            .arg(max_page)
            .invoke(c)
    })?;
    if added < 0 {
        bail!(
            "the frontier {:?} holds another crawl (site, range or [extract] differ): it has\n  \
             {other}\nthis config is\n  {fp}\nUse another `frontier.name`, or delete the keys \
             pagecrawl:{}:* to start over",
            keys.meta,
            keys.meta
                .trim_start_matches("pagecrawl:")
                .trim_end_matches(":meta")
        );
    }
    if added > 0 {
        return Ok(Seeded::Now(added as u64));
    }
    let mut requeued = 0;
    if requeue_failed {
        let failed: HashMap<u64, String> = link.try_once(|c| c.hgetall(&keys.failed))?;
        for page in failed.keys() {
            link.try_once(|c| {
                redis::pipe()
                    .atomic()
                    .hdel(&keys.failed, page)
                    .ignore()
                    .xadd(&keys.pages, "*", &[("page", page)])
                    .ignore()
                    .query::<()>(c)
            })?;
            requeued += 1;
        }
    }
    Ok(Seeded::Already { requeued })
}

/// Pages this daemon took from the stream and has not acknowledged: page → entry id.
#[derive(Debug, Default)]
pub struct Leases {
    /// Shared by the feeder (which adds) and the acker (which removes).
    held: Mutex<HashMap<u64, String>>,
}

impl Leases {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, String>> {
        // A panic elsewhere while holding it leaves a usable map.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many pages are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// The feeder of a shared crawl: page numbers from the Redis stream into `pages`.
pub struct RedisFeeder {
    /// Its own connection.
    pub link: Link,
    /// The crawl's keys.
    pub keys: Keys,
    /// This daemon's consumer name.
    pub consumer: String,
    /// How long a lease lasts.
    pub lease: Duration,
    /// Pages in this daemon's pipeline.
    pub leases: Arc<Leases>,
    /// Stops feeding when raised.
    pub shutdown: Shutdown,
    /// The end of the listing, shared with parsers and crawlers (and, through Redis, with the
    /// other daemons).
    pub end: Arc<ListingEnd>,
    /// Counters, lease reclaims and the frontier's lag among them.
    pub stats: Arc<Stats>,
    /// Whether the range is unknown ("until empty" mode).
    pub until_empty: bool,
    /// In "until empty" mode, the last page `site.max_pages` lets this daemon add.
    pub max_page: u64,
    /// Raises the shutdown flag if this thread panics.
    pub guard: PanicGuard,
}

impl RedisFeeder {
    /// Feeds pages until the shared crawl has nothing left for this daemon, or shutdown.
    pub fn run(mut self, pages: Sender<u64>) {
        if let Err(err) = self.feed(&pages) {
            // Redis is gone for good or the crawl is broken: stop taking pages; what is in the
            // pipeline is still committed and acknowledged when Redis comes back.
            warn!("{err:#}");
            self.shutdown.request();
        }
        drop(self.guard);
    }

    fn feed(&mut self, pages: &Sender<u64>) -> Result<()> {
        let mut renewed = Instant::now();
        let mut measured: Option<Instant> = None;
        // Where the next look for expired leases starts: each look goes on from the last, so
        // a long pending list is scanned a slice at a time rather than from the start each time.
        let mut cursor = String::from("0-0");
        loop {
            if self.shutdown.is_requested() {
                info!("shutdown: no new pages are taken from the frontier");
                return Ok(());
            }
            if self.end.is_stopped() {
                // The reason is logged where the stop was decided.
                return Ok(());
            }
            self.share_end()?;
            self.release_past_end()?;
            if renewed.elapsed() >= self.lease / 3 {
                self.renew_leases()?;
                renewed = Instant::now();
            }
            if measured.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                self.measure_lag()?;
                measured = Some(Instant::now());
            }
            let mut entries = self.reclaim(&mut cursor)?;
            if entries.is_empty() {
                entries = self.read()?;
            }
            if entries.is_empty() {
                if self.extend()? > 0 {
                    continue;
                }
                if !self.others_hold_pages()? {
                    debug!("frontier: nothing left to take");
                    if self.until_empty && self.end.first_empty().is_none() {
                        self.end.stop(format!(
                            "the listing did not end within `site.max_pages` (up to page {}); \
                             raise `site.max_pages` and run `pagecrawl seed` to crawl further",
                            self.max_page
                        ));
                    }
                    return Ok(());
                }
                continue;
            }
            if !self.feed_entries(entries, pages)? {
                return Ok(());
            }
        }
    }

    /// Stops retrying once shutdown is requested.
    fn stop(shutdown: &Shutdown) -> impl FnMut(Duration) -> bool + '_ {
        move |pause| pause_or_shutdown(shutdown, pause)
    }

    /// Sends the pages of `entries` that still need fetching; `false` if the pipeline is gone
    /// or shutdown came while waiting for room.
    fn feed_entries(&mut self, entries: Vec<(String, u64)>, pages: &Sender<u64>) -> Result<bool> {
        let numbers: Vec<u64> = entries.iter().map(|(_, page)| *page).collect();
        let done: Vec<bool> = {
            let (shutdown, keys) = (&self.shutdown, &self.keys);
            self.link
                .retry("checking the done-set", Self::stop(shutdown), |c| {
                    redis::cmd("SMISMEMBER")
                        .arg(&keys.done)
                        .arg(&numbers)
                        .query(c)
                })?
        };
        let mut skip = Vec::new();
        for ((id, page), done) in entries.into_iter().zip(done) {
            if done || self.end.is_past(page) {
                // Committed by some daemon already, or past the end of the listing.
                if !done {
                    self.stats.pages_not_crawled(1);
                }
                skip.push(id);
                continue;
            }
            self.leases.lock().insert(page, id);
            // Wait for room, renewing our leases meanwhile: the pages waiting in our queues are
            // ours, however long the crawlers take.
            loop {
                select! {
                    send(pages, page) -> sent => if sent.is_err() {
                        return Ok(false);
                    } else {
                        self.stats.queue_depth(Queue::Pages, pages.len());
                        break;
                    },
                    recv(self.shutdown.waker()) -> _ => {
                        // Not sent: it stays leased to us and goes to another daemon when the
                        // lease runs out.
                        self.leases.lock().remove(&page);
                        return Ok(false);
                    },
                    default(self.lease / 3) => self.renew_leases()?,
                }
            }
        }
        self.ack(&skip, "acknowledging pages already done")?;
        Ok(true)
    }

    /// Pages whose lease ran out, taken over from whoever held them; the look starts at
    /// `cursor` and leaves there the entry the next one starts at.
    fn reclaim(&mut self, cursor: &mut String) -> Result<Vec<(String, u64)>> {
        let (keys, consumer) = (&self.keys, &self.consumer);
        let idle = self.lease.as_millis() as u64;
        let reply: StreamAutoClaimReply = self.link.retry(
            "taking over expired leases",
            Self::stop(&self.shutdown),
            |c| {
                redis::cmd("XAUTOCLAIM")
                    .arg(&keys.pages)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(idle)
                    .arg(cursor.as_str())
                    .arg("COUNT")
                    .arg(READ_COUNT)
                    .query(c)
            },
        )?;
        *cursor = reply.next_stream_id;
        let held = self.leases.lock();
        let entries: Vec<(String, u64)> = reply
            .claimed
            .iter()
            .filter_map(page_of)
            // Our own pages in the pipeline are renewed, but a renewal can come late.
            .filter(|(_, page)| !held.contains_key(page))
            .collect();
        drop(held);
        if !entries.is_empty() {
            info!(
                "frontier: took over {} pages whose lease ran out: {:?}",
                entries.len(),
                entries.iter().map(|(_, p)| p).collect::<Vec<_>>()
            );
            self.stats.leases_reclaimed(entries.len() as u64);
        }
        Ok(entries)
    }

    /// New entries, waiting a little for some.
    fn read(&mut self) -> Result<Vec<(String, u64)>> {
        let (keys, consumer) = (&self.keys, &self.consumer);
        let reply: Option<StreamReadReply> =
            self.link
                .retry("reading the stream", Self::stop(&self.shutdown), |c| {
                    redis::cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg(GROUP)
                        .arg(consumer)
                        .arg("COUNT")
                        .arg(READ_COUNT)
                        .arg("BLOCK")
                        .arg(READ_BLOCK.as_millis() as u64)
                        .arg("STREAMS")
                        .arg(&keys.pages)
                        .arg(">")
                        .query(c)
                })?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .filter_map(|id| page_of(&id))
            .collect())
    }

    /// Adds the next window of the range to the stream, if any is left; how many pages.
    fn extend(&mut self) -> Result<u64> {
        let script = Script::new(
            r"
            local next = tonumber(redis.call('HGET', KEYS[2], 'next'))
            if not next then return 0 end
            local stop = next + tonumber(ARGV[1]) - 1
            local last = redis.call('HGET', KEYS[2], 'last')
            if last and last ~= '' then stop = math.min(stop, tonumber(last)) end
            local ended = redis.call('HGET', KEYS[2], 'end')
            if ended then stop = math.min(stop, tonumber(ended)) end
            stop = math.min(stop, tonumber(ARGV[2]))
            if stop < next then return 0 end
            for p = next, stop do redis.call('XADD', KEYS[1], '*', 'page', p) end
            redis.call('HSET', KEYS[2], 'next', stop + 1)
            return stop - next + 1
            ",
        );
        let window = if self.until_empty {
            WINDOW_UNTIL_EMPTY
        } else {
            WINDOW_RANGE
        };
        // A known range is capped by `last`, in the script.
        let max_page = if self.until_empty {
            self.max_page
        } else {
            u64::MAX
        };
        let keys = &self.keys;
        let added: u64 = self.link.retry(
            "adding pages to the stream",
            Self::stop(&self.shutdown),
            |c| {
                script
                    .key(&keys.pages)
                    .key(&keys.meta)
                    .arg(window)
                    .arg(max_page)
                    .invoke(c)
            },
        )?;
        if added > 0 {
            debug!("frontier: added {added} pages to the stream");
        }
        Ok(added)
    }

    /// Records the frontier's lag for `/metrics`: the pages of the crawl no daemon has
    /// acknowledged yet, whether leased, waiting in the stream, or (for a known range) not yet
    /// added to it.
    fn measure_lag(&mut self) -> Result<()> {
        let keys = &self.keys;
        type Meta = (Option<u64>, Option<String>, Option<u64>);
        let (pending, groups, (next, last, end)): (
            StreamPendingReply,
            StreamInfoGroupsReply,
            Meta,
        ) = self
            .link
            .retry("measuring the lag", Self::stop(&self.shutdown), |c| {
                redis::pipe()
                    .cmd("XPENDING")
                    .arg(&keys.pages)
                    .arg(GROUP)
                    .cmd("XINFO")
                    .arg("GROUPS")
                    .arg(&keys.pages)
                    .cmd("HMGET")
                    .arg(&keys.meta)
                    .arg("next")
                    .arg("last")
                    .arg("end")
                    .query(c)
            })?;
        let leased = match pending {
            StreamPendingReply::Data(data) => data.count,
            _ => 0,
        };
        // Redis before 7.0 does not report the group's lag.
        let waiting = groups
            .groups
            .iter()
            .find(|g| g.name == GROUP)
            .and_then(|g| g.lag)
            .unwrap_or(0);
        let last = last.and_then(|last| last.parse::<u64>().ok());
        let not_added = match (next, last) {
            (Some(next), Some(last)) => {
                let stop = end.map_or(last, |end| end.min(last));
                (stop + 1).saturating_sub(next)
            }
            // "Until empty": nobody knows how many are left.
            _ => 0,
        };
        self.stats
            .frontier_lag((leased + waiting) as u64 + not_added);
        Ok(())
    }

    /// Whether another daemon holds unacknowledged pages (alive, or dead and soon reclaimed).
    fn others_hold_pages(&mut self) -> Result<bool> {
        let (keys, consumer) = (&self.keys, &self.consumer);
        let pending: StreamPendingReply =
            self.link
                .retry("reading pending pages", Self::stop(&self.shutdown), |c| {
                    redis::cmd("XPENDING").arg(&keys.pages).arg(GROUP).query(c)
                })?;
        let others: usize = match pending {
            StreamPendingReply::Data(data) => data
                .consumers
                .iter()
                .filter(|c| c.name != *consumer)
                .map(|c| c.pending)
                .sum(),
            // Empty, or a reply shape this client version does not know: nothing pending.
            _ => 0,
        };
        Ok(others > 0)
    }

    /// Shares the end of the listing: ours to Redis, the lowest known back to us.
    fn share_end(&mut self) -> Result<()> {
        let script = Script::new(
            r"
            if ARGV[1] ~= '' then
                local cur = redis.call('HGET', KEYS[1], 'end')
                if (not cur) or tonumber(ARGV[1]) < tonumber(cur) then
                    redis.call('HSET', KEYS[1], 'end', ARGV[1])
                end
            end
            return redis.call('HGET', KEYS[1], 'end')
            ",
        );
        let ours = self
            .end
            .first_empty()
            .map_or(String::new(), |p| p.to_string());
        let keys = &self.keys;
        let known: Option<u64> = self.link.retry(
            "sharing the end of the listing",
            Self::stop(&self.shutdown),
            |c| script.key(&keys.meta).arg(&ours).invoke(c),
        )?;
        if let Some(page) = known {
            self.end.observe_empty(page);
        }
        Ok(())
    }

    /// Acknowledges the pages in our pipeline that lie past the end of the listing: crawlers
    /// skip them and the writer drops them, so they would otherwise be renewed for ever, and
    /// every daemon would wait for them. (One written before the end was known was
    /// acknowledged with its commit already.)
    fn release_past_end(&mut self) -> Result<()> {
        let Some(end) = self.end.first_empty() else {
            return Ok(());
        };
        let ids: Vec<String> = {
            let mut held = self.leases.lock();
            let past: Vec<u64> = held.keys().copied().filter(|&page| page > end).collect();
            past.iter().filter_map(|page| held.remove(page)).collect()
        };
        self.ack(&ids, "acknowledging pages past the end")
    }

    /// Acknowledges the stream entries `ids`, which nobody needs to fetch (any more).
    fn ack(&mut self, ids: &[String], what: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys = &self.keys;
        self.link.retry(what, Self::stop(&self.shutdown), |c| {
            redis::cmd("XACK")
                .arg(&keys.pages)
                .arg(GROUP)
                .arg(ids)
                .query::<()>(c)
        })
    }

    /// Resets the idle time of the pages in our pipeline, so that nobody takes them over.
    fn renew_leases(&mut self) -> Result<()> {
        let ids: Vec<String> = self.leases.lock().values().cloned().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let (keys, consumer) = (&self.keys, &self.consumer);
        self.link
            .retry("renewing leases", Self::stop(&self.shutdown), |c| {
                redis::cmd("XCLAIM")
                    .arg(&keys.pages)
                    .arg(GROUP)
                    .arg(consumer)
                    .arg(0)
                    .arg(&ids)
                    .arg("JUSTID")
                    .query::<()>(c)
            })?;
        Ok(())
    }
}

/// The page number of a stream entry.
fn page_of(entry: &StreamId) -> Option<(String, u64)> {
    let page: String = entry.get("page")?;
    match page.parse() {
        Ok(page) => Some((entry.id.clone(), page)),
        Err(_) => {
            warn!("frontier: entry {} has no page number: {page:?}", entry.id);
            None
        }
    }
}

/// What the writer tells the acker.
#[derive(Debug)]
pub enum Ack {
    /// These pages, and the dedup keys of the items written for them, are committed locally.
    Committed {
        /// The pages.
        pages: Vec<u64>,
        /// Dedup keys of their items (empty without `output.dedup`).
        keys: Vec<Key>,
    },
    /// A page failed after its retries.
    Failed {
        /// The page.
        page: u64,
        /// Why.
        reason: String,
    },
}

/// Acknowledges committed pages in Redis: done-set, seen-set, then `XACK`.
pub struct Acker {
    /// Its own connection.
    pub link: Link,
    /// The crawl's keys.
    pub keys: Keys,
    /// Pages in this daemon's pipeline, with their entry ids.
    pub leases: Arc<Leases>,
    /// Raised at Ctrl-C: the acker still acknowledges, but gives up on an unreachable Redis
    /// after a while.
    pub shutdown: Shutdown,
    /// Disconnected once the writer is done: from then on, too, Redis gets a deadline.
    pub wind_down: Receiver<()>,
}

impl Acker {
    /// Acknowledges until the writer is gone and everything it sent is handled.
    pub fn run(mut self, acks: Receiver<Ack>) {
        let mut deadline: Option<Instant> = None;
        let (shutdown, wind_down) = (self.shutdown.clone(), self.wind_down.clone());
        for ack in acks.iter() {
            // While the crawl runs, keep trying (the writer waits, which holds the pipeline
            // back); once it winds down, only until a deadline.
            let stop = |pause: Duration| {
                let winding_down = shutdown.is_requested()
                    || select! {
                        recv(wind_down) -> _ => true,
                        recv(shutdown.waker()) -> _ => true,
                        default(pause) => false,
                    };
                if !winding_down {
                    return false;
                }
                let limit = *deadline.get_or_insert_with(|| Instant::now() + ACK_DEADLINE);
                if Instant::now() >= limit {
                    return true;
                }
                std::thread::sleep(pause.min(limit - Instant::now()));
                false
            };
            if let Err(err) = self.handle(ack, stop) {
                warn!(
                    "{err:#}: these pages are committed here but not acknowledged; another \
                     daemon will fetch them again after their lease"
                );
            }
        }
    }

    fn handle(&mut self, ack: Ack, stop: impl FnMut(Duration) -> bool) -> Result<()> {
        let keys = &self.keys;
        match ack {
            Ack::Committed { pages, keys: seen } => {
                let ids: Vec<String> = {
                    let held = self.leases.lock();
                    pages.iter().filter_map(|p| held.get(p).cloned()).collect()
                };
                let seen: Vec<Vec<u8>> = seen.iter().map(|k| k.to_le_bytes().to_vec()).collect();
                self.link
                    .retry("acknowledging committed pages", stop, |c| {
                        let mut pipe = redis::pipe();
                        pipe.atomic().sadd(&keys.done, &pages).ignore();
                        if !seen.is_empty() {
                            pipe.sadd(&keys.seen, &seen).ignore();
                        }
                        if !ids.is_empty() {
                            pipe.cmd("XACK")
                                .arg(&keys.pages)
                                .arg(GROUP)
                                .arg(&ids)
                                .ignore();
                        }
                        pipe.query::<()>(c)
                    })?;
                let mut held = self.leases.lock();
                for page in &pages {
                    held.remove(page);
                }
            }
            Ack::Failed { page, reason } => {
                let id = self.leases.lock().get(&page).cloned();
                self.link.retry("recording a failed page", stop, |c| {
                    let mut pipe = redis::pipe();
                    pipe.atomic().hset(&keys.failed, page, &reason).ignore();
                    if let Some(id) = &id {
                        pipe.cmd("XACK")
                            .arg(&keys.pages)
                            .arg(GROUP)
                            .arg(id)
                            .ignore();
                    }
                    pipe.query::<()>(c)
                })?;
                self.leases.lock().remove(&page);
            }
        }
        Ok(())
    }
}

/// The dedup seen-set in Redis, asked by the writer before it writes a page.
pub struct SharedSeen {
    /// Its own connection.
    pub link: Link,
    /// The set's key.
    pub key: String,
    /// Stops retrying when raised.
    pub shutdown: Shutdown,
}

impl SharedSeen {
    /// Which of `keys` some daemon has written already.
    pub fn contains(&mut self, keys: &[Key]) -> Result<Vec<bool>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let members: Vec<Vec<u8>> = keys.iter().map(|k| k.to_le_bytes().to_vec()).collect();
        let key = &self.key;
        let shutdown = &self.shutdown;
        self.link.retry(
            "checking the seen-set",
            |pause| pause_or_shutdown(shutdown, pause),
            |c| redis::cmd("SMISMEMBER").arg(key).arg(&members).query(c),
        )
    }
}

/// Adds the pages a crash left committed here but unacknowledged to the done-set, so that no
/// daemon fetches them again.
pub fn reconcile(link: &mut Link, keys: &Keys, committed: &BTreeSet<u64>) -> Result<()> {
    if committed.is_empty() {
        return Ok(());
    }
    let pages: Vec<u64> = committed.iter().copied().collect();
    link.try_once(|c| c.sadd::<_, _, ()>(&keys.done, &pages))
        .context("recording pages committed by an earlier run in the done-set")?;
    Ok(())
}

/// A consumer name unique to this process: host and pid.
pub fn consumer_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    format!("{host}-{}", std::process::id())
}
