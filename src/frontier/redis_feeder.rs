//! The feeder of a shared crawl: page numbers from the Redis stream into the same bounded
//! `pages` channel as the local feeder, with leases renewed while the pages are in this daemon's
//! pipeline, expired ones taken over from dead daemons, and the end of the listing shared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossbeam_channel::{Sender, select};
use log::{debug, info, warn};
use redis::Script;
use redis::streams::{
    StreamAutoClaimReply, StreamId, StreamInfoGroupsReply, StreamPendingReply, StreamReadReply,
};

use super::keys::{GROUP, Keys};
use super::leases::Leases;
use super::link::{Link, pause_or_shutdown};
use super::seed::window;
use crate::config::SiteConfig;
use crate::pipeline::message::ToFetch;
use crate::pipeline::stage::{Source, Stage};
use crate::shutdown::Shutdown;
use crate::stats::Queue;

/// Entries asked for per read.
const READ_COUNT: usize = 16;

/// How long a read waits for new entries before the feeder looks around again.
const READ_BLOCK: Duration = Duration::from_millis(250);

/// The feeder of a shared crawl: page numbers from the Redis stream into `pages`.
pub(crate) struct RedisFeeder {
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
    /// Whether the range is unknown ("until empty" mode).
    pub until_empty: bool,
    /// In "until empty" mode, the last page `site.max_pages` lets this daemon add.
    pub max_page: u64,
    /// The site, for each page's URL.
    pub site: SiteConfig,
    /// The shutdown flag (stops feeding), the counters (lease reclaims and the frontier's lag
    /// among them) and the end of the listing, shared with the other stages (and, through
    /// Redis, with the other daemons).
    pub stage: Stage,
}

impl Source for RedisFeeder {
    /// Feeds pages until the shared crawl has nothing left for this daemon, or shutdown.
    fn run(mut self: Box<Self>, pages: Sender<ToFetch>) {
        if let Err(err) = self.feed(&pages) {
            // Redis is gone for good or the crawl is broken: stop taking pages; what is in the
            // pipeline is still committed and acknowledged when Redis comes back.
            warn!("{err:#}");
            self.stage.shutdown.request();
        }
    }
}

impl RedisFeeder {
    fn feed(&mut self, pages: &Sender<ToFetch>) -> Result<()> {
        let mut renewed = Instant::now();
        let mut measured: Option<Instant> = None;
        // Where the next look for expired leases starts: each look goes on from the last, so
        // a long pending list is scanned a slice at a time rather than from the start each time.
        let mut cursor = String::from("0-0");
        loop {
            if self.stage.shutdown.is_requested() {
                info!("shutdown: no new pages are taken from the frontier");
                return Ok(());
            }
            if self.stage.end.is_stopped() {
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
                    if self.until_empty && self.stage.end.first_empty().is_none() {
                        self.stage.end.stop(format!(
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
    fn feed_entries(
        &mut self,
        entries: Vec<(String, u64)>,
        pages: &Sender<ToFetch>,
    ) -> Result<bool> {
        let numbers: Vec<u64> = entries.iter().map(|(_, page)| *page).collect();
        let done: Vec<bool> = {
            let (shutdown, keys) = (&self.stage.shutdown, &self.keys);
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
            if done || self.stage.end.is_past(page) {
                // Committed by some daemon already, or past the end of the listing.
                if !done {
                    self.stage.end.count_unneeded(page, &self.stage.stats);
                }
                skip.push(id);
                continue;
            }
            self.leases.take(page, id);
            let url = self.site.url_of(page);
            // Wait for room, renewing our leases meanwhile: the pages waiting in our queues are
            // ours, however long the crawlers take.
            loop {
                select! {
                    send(pages, ToFetch { number: page, url: url.clone() }) -> sent => if sent.is_err() {
                        return Ok(false);
                    } else {
                        self.stage.stats.queue_depth(Queue::Pages, pages.len());
                        break;
                    },
                    recv(self.stage.shutdown.waker()) -> _ => {
                        // Not sent: it stays leased to us and goes to another daemon when the
                        // lease runs out.
                        self.leases.release(&[page]);
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
            Self::stop(&self.stage.shutdown),
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
        let entries: Vec<(String, u64)> = reply
            .claimed
            .iter()
            .filter_map(page_of)
            // Our own pages in the pipeline are renewed, but a renewal can come late.
            .filter(|(_, page)| !self.leases.holds(*page))
            .collect();
        if !entries.is_empty() {
            info!(
                "frontier: took over {} pages whose lease ran out: {:?}",
                entries.len(),
                entries.iter().map(|(_, p)| p).collect::<Vec<_>>()
            );
            self.stage.stats.leases_reclaimed(entries.len() as u64);
        }
        Ok(entries)
    }

    /// New entries, waiting a little for some.
    fn read(&mut self) -> Result<Vec<(String, u64)>> {
        let (keys, consumer) = (&self.keys, &self.consumer);
        let reply: Option<StreamReadReply> = self.link.retry(
            "reading the stream",
            Self::stop(&self.stage.shutdown),
            |c| {
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
            },
        )?;
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
        // A known range is capped by `last`, in the script.
        let (window, max_page) = window(self.until_empty, self.max_page);
        let keys = &self.keys;
        let added: u64 = self.link.retry(
            "adding pages to the stream",
            Self::stop(&self.stage.shutdown),
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
            .retry("measuring the lag", Self::stop(&self.stage.shutdown), |c| {
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
        self.stage
            .stats
            .frontier_lag((leased + waiting) as u64 + not_added);
        Ok(())
    }

    /// Whether another daemon holds unacknowledged pages (alive, or dead and soon reclaimed).
    fn others_hold_pages(&mut self) -> Result<bool> {
        let (keys, consumer) = (&self.keys, &self.consumer);
        let pending: StreamPendingReply = self.link.retry(
            "reading pending pages",
            Self::stop(&self.stage.shutdown),
            |c| redis::cmd("XPENDING").arg(&keys.pages).arg(GROUP).query(c),
        )?;
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
            .stage
            .end
            .first_empty()
            .map_or(String::new(), |p| p.to_string());
        let keys = &self.keys;
        let known: Option<u64> = self.link.retry(
            "sharing the end of the listing",
            Self::stop(&self.stage.shutdown),
            |c| script.key(&keys.meta).arg(&ours).invoke(c),
        )?;
        if let Some(page) = known {
            self.stage.end.observe_empty(page);
        }
        Ok(())
    }

    /// Acknowledges the pages in our pipeline that lie past the end of the listing: crawlers
    /// skip them and the writer drops them, so they would otherwise be renewed for ever, and
    /// every daemon would wait for them. (One written before the end was known was
    /// acknowledged with its commit already.)
    fn release_past_end(&mut self) -> Result<()> {
        let Some(end) = self.stage.end.first_empty() else {
            return Ok(());
        };
        let ids = self.leases.release_past(end);
        self.ack(&ids, "acknowledging pages past the end")
    }

    /// Acknowledges the stream entries `ids`, which nobody needs to fetch (any more).
    fn ack(&mut self, ids: &[String], what: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let keys = &self.keys;
        self.link
            .retry(what, Self::stop(&self.stage.shutdown), |c| {
                redis::cmd("XACK")
                    .arg(&keys.pages)
                    .arg(GROUP)
                    .arg(ids)
                    .query::<()>(c)
            })
    }

    /// Resets the idle time of the pages in our pipeline, so that nobody takes them over.
    fn renew_leases(&mut self) -> Result<()> {
        let ids = self.leases.ids();
        if ids.is_empty() {
            return Ok(());
        }
        let (keys, consumer) = (&self.keys, &self.consumer);
        self.link
            .retry("renewing leases", Self::stop(&self.stage.shutdown), |c| {
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
