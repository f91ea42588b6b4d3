//! The last values of a keyed crawl's keys, shared in Redis by its daemons ([`SharedKeys`]):
//! the `items` hash (key → JSON), the `events` hash of lines committed and not yet written,
//! the `list_pages` hash of each list page's validators and keys, and the round's done-set. Every step that changes them is one Lua script, so that it is
//! atomic, and each can be retried after a lost reply: a page's step recognises its own
//! commit, a batch of gone keys is numbered before it is committed.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use anyhow::{Context, Result, bail};
use redis::{Commands, Script};

use super::keys::{Keys, round_pages};
use super::link::{Link, pause_or_shutdown};
use crate::http::{PageValidators, Validators};
use crate::shutdown::Shutdown;
use crate::store::shared_watch::{Outcome, SharedKeys, SharedPage, Swap, Unwritten};

/// What the `list_pages` hash keeps of a list page, as JSON: its validators and its keys.
#[derive(Debug, serde::Deserialize)]
struct StoredPage {
    /// `ETag`.
    e: Option<String>,
    /// `Last-Modified`.
    m: Option<String>,
    /// The keys it listed.
    k: Vec<String>,
}

/// Keys read or scanned at a time.
const BATCH: usize = 512;

/// Commits a page: KEYS meta, items, events, done, list_pages; ARGV round, page, daemon,
/// lines, the page's URL, what `list_pages` keeps of it (JSON), then (key, value read, value after) per
/// key. Returns 0 (committed, now or by this daemon before), 1 (committed by another daemon),
/// 2 (a key changed since it was read) or 3 (the round is over).
const COMMIT_PAGE: &str = r"
if tonumber(redis.call('HGET', KEYS[1], 'round') or '1') ~= tonumber(ARGV[1]) then return 3 end
local entry = 'p:' .. ARGV[2]
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
    local held = redis.call('HGET', KEYS[3], entry)
    if held and string.sub(held, 1, #ARGV[3] + 1) == ARGV[3] .. '\n' then return 0 end
    return 1
end
for i = 7, #ARGV, 3 do
    if (redis.call('HGET', KEYS[2], ARGV[i]) or '') ~= ARGV[i + 1] then return 2 end
end
for i = 7, #ARGV, 3 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2]) end
redis.call('HSET', KEYS[5], ARGV[5], ARGV[6])
redis.call('HSET', KEYS[3], entry, ARGV[3] .. '\n' .. ARGV[4])
redis.call('SADD', KEYS[4], ARGV[2])
return 0
";

/// Commits a page that answered 304: its keys (as `list_pages` lists them) that it is still the
/// page of are listed again this round. KEYS meta, items, events, done, pages; ARGV round,
/// page, daemon, URL. Returns {0, keys listed again} (committed), {1, 0} (committed by another
/// daemon), {3, 0} (the round is over) or {4, 0} (`list_pages` does not know the URL).
const COMMIT_NOT_MODIFIED: &str = r"
if tonumber(redis.call('HGET', KEYS[1], 'round') or '1') ~= tonumber(ARGV[1]) then return {3, 0} end
local entry = 'p:' .. ARGV[2]
if redis.call('SISMEMBER', KEYS[4], ARGV[2]) == 1 then
    local held = redis.call('HGET', KEYS[3], entry)
    if held and string.sub(held, 1, #ARGV[3] + 1) == ARGV[3] .. '\n' then return {0, 0} end
    return {1, 0}
end
local known = redis.call('HGET', KEYS[5], ARGV[4])
if not known then return {4, 0} end
local listed = 0
for _, key in ipairs(cjson.decode(known).k) do
    local value = redis.call('HGET', KEYS[2], key)
    if value then
        local item = cjson.decode(value)
        if item.u == ARGV[4] and not item.g then
            item.r = tonumber(ARGV[1])
            redis.call('HSET', KEYS[2], key, cjson.encode(item))
            listed = listed + 1
        end
    end
end
redis.call('HSET', KEYS[3], entry, ARGV[3] .. '\n')
redis.call('SADD', KEYS[4], ARGV[2])
return {0, listed}
";

/// Commits a batch of gone keys: KEYS meta, items, events (and list_pages, unused); ARGV round,
/// batch number, daemon, lines, then (key, value read, value after). Returns 0 (committed, now
/// or before), 1 (the round is over) or 2 (a key changed since it was read).
const COMMIT_GONE: &str = r"
if tonumber(redis.call('HGET', KEYS[1], 'round') or '1') ~= tonumber(ARGV[1]) then return 1 end
local entry = 'g:' .. ARGV[2]
if redis.call('HEXISTS', KEYS[3], entry) == 1 then return 0 end
for i = 5, #ARGV, 3 do
    if (redis.call('HGET', KEYS[2], ARGV[i]) or '') ~= ARGV[i + 1] then return 2 end
end
for i = 5, #ARGV, 3 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2]) end
redis.call('HSET', KEYS[3], entry, ARGV[3] .. '\n' .. ARGV[4])
return 0
";

/// The scripts, each hashed once: a commit per page sends only the hash (`EVALSHA`).
static COMMIT_PAGE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COMMIT_PAGE));
static COMMIT_NOT_MODIFIED_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| Script::new(COMMIT_NOT_MODIFIED));
static COMMIT_GONE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(COMMIT_GONE));

/// The keys of a keyed crawl in Redis, as one daemon sees them in one round.
pub(crate) struct RedisKeys {
    /// Its own connection.
    pub link: Link,
    /// The crawl's keys.
    pub keys: Keys,
    /// This daemon's name, the same across its restarts (see [`daemon_name`]).
    pub daemon: String,
    /// The round.
    pub round: u64,
    /// The first page of the range.
    pub first_page: u64,
    /// Stops retrying when raised.
    pub shutdown: Shutdown,
}

/// The name of the daemon that writes `output`: its host and a hash of the output's path, so
/// that the daemon started again on the same output finds the lines it left unwritten.
pub(crate) fn daemon_name(output: &std::path::Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".to_string());
    let path = std::fs::canonicalize(output).unwrap_or_else(|_| output.to_path_buf());
    let hash = xxhash_rust::xxh3::xxh3_64(path.as_os_str().as_encoded_bytes());
    format!("{host}:{hash:016x}")
}

impl RedisKeys {
    /// Runs `f` until it succeeds or a stop is requested.
    fn retry<T>(
        &mut self,
        what: &str,
        f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let shutdown = self.shutdown.clone();
        self.link
            .retry(what, |pause| pause_or_shutdown(&shutdown, pause), f)
    }

    /// The lines this daemon committed in an earlier run and did not write: those of pages
    /// not in `committed` and of gone batches not in `gone` (what its journal says it wrote).
    /// Entries it did write are removed.
    pub fn unwritten(
        &mut self,
        committed: &BTreeSet<u64>,
        gone: &BTreeSet<u64>,
    ) -> Result<Vec<Unwritten>> {
        let key = self.keys.events.clone();
        let entries: Vec<(String, Vec<u8>)> =
            self.retry("reading the unwritten events", |c| c.hgetall(&key))?;
        let prefix = format!("{}\n", self.daemon);
        let (mut out, mut written) = (Vec::new(), Vec::new());
        for (entry, value) in entries {
            let Some(lines) = value.strip_prefix(prefix.as_bytes()) else {
                continue;
            };
            let number = |tag: &str| entry.strip_prefix(tag).and_then(|n| n.parse::<u64>().ok());
            match (number("p:"), number("g:")) {
                (Some(page), _) if committed.contains(&page) => written.push(entry),
                (Some(page), _) => out.push(Unwritten::Page(page, lines.to_vec())),
                (_, Some(batch)) if gone.contains(&batch) => written.push(entry),
                (_, Some(batch)) => out.push(Unwritten::Gone(batch, lines.to_vec())),
                _ => bail!("the frontier's {key} holds an entry {entry:?} that is not pagecrawl's"),
            }
        }
        if !written.is_empty() {
            self.retry("clearing written events", |c| {
                c.hdel::<_, _, ()>(&key, &written)
            })?;
        }
        // Pages first, in page order, then the gone batches, as they were committed.
        out.sort_by_key(|u| match u {
            Unwritten::Page(page, _) => (0, *page),
            Unwritten::Gone(batch, _) => (1, *batch),
        });
        Ok(out)
    }

    /// The validators of the list pages committed before (those that listed items: an empty
    /// page, the end of an "until empty" listing, is asked in full), for the crawlers.
    pub fn validators(&mut self) -> Result<PageValidators> {
        let hash = self.keys.list_pages.clone();
        let pages: HashMap<String, String> =
            self.retry("reading the list pages' validators", |c| c.hgetall(&hash))?;
        let mut out = HashMap::with_capacity(pages.len());
        for (url, text) in pages {
            let page: StoredPage = serde_json::from_str(&text).with_context(|| {
                format!("the frontier's {hash} holds a value for {url} that is not pagecrawl's")
            })?;
            if page.k.is_empty() || (page.e.is_none() && page.m.is_none()) {
                continue;
            }
            let validators = Validators {
                etag: page.e,
                last_modified: page.m,
            };
            out.insert(url, validators);
        }
        Ok(std::sync::Arc::new(out))
    }

    /// Runs a commit script on `swaps`, after `head` (its first arguments).
    fn commit<T: redis::FromRedisValue>(
        &mut self,
        script: &Script,
        head: &[Vec<u8>],
        swaps: &[Swap],
    ) -> Result<T> {
        let keys = self.keys.clone();
        self.retry("committing in the shared store", |c| {
            let mut invocation = script.prepare_invoke();
            invocation
                .key(&keys.meta)
                .key(&keys.items)
                .key(&keys.events)
                .key(&keys.done)
                .key(&keys.list_pages);
            for arg in head {
                invocation.arg(arg.as_slice());
            }
            for swap in swaps {
                invocation.arg(&swap.key).arg(&swap.read).arg(&swap.write);
            }
            invocation.invoke(c)
        })
    }
}

impl SharedKeys for RedisKeys {
    fn read(&mut self, keys: &[String]) -> Result<Vec<Option<String>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let hash = self.keys.items.clone();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            let values: Vec<Option<String>> = self.retry("reading keys", |c| {
                redis::cmd("HMGET").arg(&hash).arg(chunk).query(c)
            })?;
            out.extend(values);
        }
        Ok(out)
    }

    fn commit_page(
        &mut self,
        page: &SharedPage<'_>,
        swaps: &[Swap],
        lines: &[u8],
    ) -> Result<Outcome> {
        let head = [
            self.round.to_string().into_bytes(),
            page.number.to_string().into_bytes(),
            self.daemon.clone().into_bytes(),
            lines.to_vec(),
            page.url.as_bytes().to_vec(),
            page.text().into_bytes(),
        ];
        Ok(
            match self.commit::<i64>(&COMMIT_PAGE_SCRIPT, &head, swaps)? {
                0 => Outcome::Done,
                1 => Outcome::Taken,
                2 => Outcome::Stale,
                _ => Outcome::RoundOver,
            },
        )
    }

    fn commit_not_modified(&mut self, page: u64, url: &str) -> Result<(Outcome, u64)> {
        let head = [
            self.round.to_string().into_bytes(),
            page.to_string().into_bytes(),
            self.daemon.clone().into_bytes(),
            url.as_bytes().to_vec(),
        ];
        let (code, listed): (i64, u64) = self.commit(&COMMIT_NOT_MODIFIED_SCRIPT, &head, &[])?;
        Ok(match code {
            0 => (Outcome::Done, listed),
            1 => (Outcome::Taken, 0),
            3 => (Outcome::RoundOver, 0),
            _ => bail!(
                "page {page} ({url}) answered 304, but {} does not know it: it was asked \
                 with validators that no daemon committed",
                self.keys.list_pages
            ),
        })
    }

    fn gone_due(&mut self) -> Result<bool> {
        let meta = self.keys.meta.clone();
        // `last` is empty in "until empty" mode.
        let fields: Vec<Option<String>> = self.retry("reading the round", |c| {
            redis::cmd("HMGET")
                .arg(&meta)
                .arg(&["last", "end", "swept"])
                .query(c)
        })?;
        let number = |i: usize| fields.get(i)?.as_deref()?.parse::<u64>().ok();
        let (last, end, swept) = (number(0), number(1), number(2));
        if swept == Some(self.round) {
            return Ok(false);
        }
        let Some(pages) = round_pages(self.first_page, last, end) else {
            return Ok(false);
        };
        let pages: Vec<u64> = pages.collect();
        let failed = self.keys.failed.clone();
        let failures: u64 = self.retry("counting failed pages", |c| c.hlen(&failed))?;
        if failures > 0 {
            return Ok(false);
        }
        let done = self.keys.done.clone();
        for chunk in pages.chunks(BATCH * 4) {
            let committed: Vec<bool> = self.retry("checking the done-set", |c| {
                redis::cmd("SMISMEMBER").arg(&done).arg(chunk).query(c)
            })?;
            if committed.contains(&false) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn scan(&mut self, cursor: u64) -> Result<(u64, Vec<(String, String)>)> {
        let hash = self.keys.items.clone();
        let (next, flat): (u64, Vec<String>) = self.retry("scanning keys", |c| {
            redis::cmd("HSCAN")
                .arg(&hash)
                .arg(cursor)
                .arg("COUNT")
                .arg(BATCH)
                .query(c)
        })?;
        let pairs = flat
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect();
        Ok((next, pairs))
    }

    fn commit_gone(&mut self, swaps: &[Swap], lines: &[u8]) -> Result<Option<u64>> {
        let meta = self.keys.meta.clone();
        let batch: u64 = self.retry("numbering a batch of gone keys", |c| {
            c.hincr(&meta, "gone_batches", 1)
        })?;
        let head = [
            self.round.to_string().into_bytes(),
            batch.to_string().into_bytes(),
            self.daemon.clone().into_bytes(),
            lines.to_vec(),
        ];
        match self.commit::<i64>(&COMMIT_GONE_SCRIPT, &head, swaps)? {
            0 => Ok(Some(batch)),
            1 => bail!(
                "round {} of {} was ended (by `pagecrawl seed`) while this daemon wrote its gone \
                 keys",
                self.round,
                self.keys.meta
            ),
            _ => Ok(None),
        }
    }

    fn gone_written(&mut self) -> Result<()> {
        let meta = self.keys.meta.clone();
        let round = self.round;
        self.retry("recording the gone keys written", |c| {
            c.hset::<_, _, _, ()>(&meta, "swept", round)
        })
    }
}
