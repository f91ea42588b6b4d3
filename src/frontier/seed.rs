//! Seeding a shared crawl: the first daemon (or `pagecrawl seed`) creates it in Redis, atomically
//! (a Lua script), the others check that it is the same crawl; and reconciling what a crash
//! left committed here but unacknowledged.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Context, Result, bail};
use redis::{Commands, Script};

use super::keys::{GROUP, Keys, round_pages};
use super::link::Link;
use crate::config::Config;
use crate::store::journal::Fingerprint;

/// Pages added to the stream at a time in "until empty" mode: like the local feeder, a daemon
/// fetches at most about this many pages past the end of the listing.
const WINDOW_UNTIL_EMPTY: u64 = 64;

/// Pages added at a time for a known range.
const WINDOW_RANGE: u64 = 1024;

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
    /// With `output.key`: the round before was over, and this one starts.
    NextRound {
        /// The round that starts.
        round: u64,
        /// Pages added (the first window in "until empty" mode).
        pages: u64,
    },
    /// With `output.key`: the round is not over yet, and goes on.
    Running {
        /// The round.
        round: u64,
        /// What it still waits for.
        waiting: String,
    },
}

/// Starts the next round of a keyed crawl whose round is over: KEYS stream, meta, done,
/// failed, events; ARGV the round that is over, the window, the last page that may be added,
/// the consumer group. The stream starts anew, with its group: no entry of the round before
/// stays pending (one whose acknowledgement was lost, say).
/// Returns {round started, pages added}, or {0, round now} if the round is not the one given,
/// or {-1, round} if some daemon's lines are still unwritten.
const NEXT_ROUND: &str = r"
local round = tonumber(redis.call('HGET', KEYS[2], 'round') or '1')
if round ~= tonumber(ARGV[1]) then return {0, round} end
if redis.call('HLEN', KEYS[5]) > 0 then return {-1, round} end
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('DEL', KEYS[1])
redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[4], '0', 'MKSTREAM')
local first = tonumber(redis.call('HGET', KEYS[2], 'first'))
local last = redis.call('HGET', KEYS[2], 'last')
local stop = first + tonumber(ARGV[2]) - 1
if last and last ~= '' then stop = math.min(stop, tonumber(last)) end
stop = math.min(stop, tonumber(ARGV[3]))
for p = first, stop do redis.call('XADD', KEYS[1], '*', 'page', p) end
redis.call('HDEL', KEYS[2], 'end')
redis.call('HSET', KEYS[2], 'round', round + 1, 'next', stop + 1)
return {round + 1, stop - first + 1}
";

/// What the seeding script is given, besides the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeedArgs {
    /// The crawl's fingerprint.
    fp: String,
    /// `site.first_page`.
    first: u64,
    /// `site.last_page`, or empty in "until empty" mode.
    last: String,
    /// Pages added now.
    window: u64,
    /// No page past this is added.
    max_page: u64,
}

impl SeedArgs {
    fn of(config: &Config) -> SeedArgs {
        let site = &config.site;
        let (window, max_page) = window(site.last_page.is_none(), site.max_page());
        SeedArgs {
            fp: fingerprint(config),
            first: site.first_page,
            last: site.last_page.map_or(String::new(), |l| l.to_string()),
            window,
            max_page,
        }
    }
}

/// How many pages are added to the stream at a time, and the last page that may be added: a
/// known range goes in [`WINDOW_RANGE`] pages at a time (capped by its `last`, which the
/// scripts read from Redis), an "until empty" one [`WINDOW_UNTIL_EMPTY`] at a time up to
/// `max_page` (the last page `site.max_pages` allows).
pub(super) fn window(until_empty: bool, max_page: u64) -> (u64, u64) {
    if until_empty {
        (WINDOW_UNTIL_EMPTY, max_page)
    } else {
        (WINDOW_RANGE, u64::MAX)
    }
}

/// The fingerprint that all daemons of one crawl must share: the site, the range, the
/// extraction rules and, with `output.key`, the key (the last values in Redis are by it).
fn fingerprint(config: &Config) -> String {
    let fp = Fingerprint::of(config);
    let key = match &config.output.key {
        Some(key) => format!(" key={:?}", key.field),
        None => String::new(),
    };
    format!(
        "{} {}..{} size={} item={:?} fields={:?}{key}",
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
pub(super) fn seed(
    link: &mut Link,
    config: &Config,
    keys: &Keys,
    requeue_failed: bool,
) -> Result<Seeded> {
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
    let args = SeedArgs::of(config);
    let (added, other): (i64, String) = link.try_once(|c| {
        script
            .key(&keys.pages)
            .key(&keys.meta)
            .arg(&args.fp)
            .arg(args.first)
            .arg(&args.last)
            .arg(args.window)
            .arg(args.max_page)
            .invoke(c)
    })?;
    if added < 0 {
        bail!(
            "the frontier {:?} holds another crawl (site, range or [extract] differ): it has\n  \
             {other}\nthis config is\n  {}\nUse another `frontier.name`, or delete the keys \
             {} to start over",
            keys.meta,
            args.fp,
            keys.pattern()
        );
    }
    if added > 0 {
        return Ok(Seeded::Now(added as u64));
    }
    if requeue_failed
        && config.output.key.is_some()
        && link.try_once(|c| c.hlen::<_, u64>(&keys.failed))? == 0
    {
        return next_round(link, keys, &args);
    }
    let mut requeued = 0;
    if requeue_failed {
        let failed: HashMap<u64, String> = link.try_once(|c| c.hgetall(&keys.failed))?;
        requeued = put_back(link, keys, &failed)?;
    }
    Ok(Seeded::Already { requeued })
}

/// Puts the `failed` pages back in the stream, each out of the failed-hash in the same atomic
/// step; returns how many.
fn put_back(link: &mut Link, keys: &Keys, failed: &HashMap<u64, String>) -> Result<u64> {
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
    }
    Ok(failed.len() as u64)
}

/// The round of the crawl in Redis (1 until `pagecrawl seed` starts another, with `output.key`).
pub(super) fn round(link: &mut Link, keys: &Keys) -> Result<u64> {
    let round: Option<u64> = link
        .try_once(|c| c.hget(&keys.meta, "round"))
        .context("reading the round of the crawl")?;
    Ok(round.unwrap_or(1))
}

/// Whether `round` of a keyed crawl is over: every page committed and its gone keys written.
pub(super) fn is_over(link: &mut Link, keys: &Keys, round: u64) -> Result<bool> {
    let swept: Option<u64> = link
        .try_once(|c| c.hget(&keys.meta, "swept"))
        .context("reading the round of the crawl")?;
    Ok(swept == Some(round))
}

/// With `output.key`, no failed page and the round over (every page committed, its gone keys
/// and every daemon's lines written), starts the next round; otherwise says what the round
/// waits for.
fn next_round(link: &mut Link, keys: &Keys, args: &SeedArgs) -> Result<Seeded> {
    let round = round(link, keys)?;
    if !is_over(link, keys, round)? {
        return Ok(Seeded::Running {
            round,
            waiting: "pages not yet committed, or the gone keys not yet written (the daemon \
                      that completes the round writes them)"
                .to_string(),
        });
    }
    start_round(link, keys, args, round)
}

/// Starts the round after `round` (see [`NEXT_ROUND`]), unless a daemon's lines are still
/// unwritten or another daemon started it first.
fn start_round(link: &mut Link, keys: &Keys, args: &SeedArgs, round: u64) -> Result<Seeded> {
    let (started, pages): (i64, u64) = link.try_once(|c| {
        Script::new(NEXT_ROUND)
            .key(&keys.pages)
            .key(&keys.meta)
            .key(&keys.done)
            .key(&keys.failed)
            .key(&keys.events)
            .arg(round)
            .arg(args.window)
            .arg(args.max_page)
            .arg(GROUP)
            .invoke(c)
    })?;
    Ok(match started {
        -1 => Seeded::Running {
            round,
            waiting: format!(
                "daemons that committed pages in Redis and stopped before writing them (see \
                 the daemons named in {}): start them again on their outputs",
                keys.events
            ),
        },
        0 => Seeded::Already { requeued: 0 },
        round => Seeded::NextRound {
            round: round as u64,
            pages,
        },
    })
}

/// For a daemon of a keyed shared crawl run as a service (`[schedule]`), at the start of each
/// of its rounds: a round that is over gives way to the next, and so does one whose every page
/// was committed or failed (as a local service starts its next round after failed pages,
/// declaring nothing gone); the failed pages of a round still under way are put back.
pub(super) fn advance(link: &mut Link, config: &Config, keys: &Keys) -> Result<Seeded> {
    let args = SeedArgs::of(config);
    let round = round(link, keys)?;
    let failed: HashMap<u64, String> = link.try_once(|c| c.hgetall(&keys.failed))?;
    if is_over(link, keys, round)? || (!failed.is_empty() && settled(link, config, keys, &failed)?)
    {
        return start_round(link, keys, &args, round);
    }
    let requeued = put_back(link, keys, &failed)?;
    Ok(Seeded::Already { requeued })
}

/// Whether every page of the round's range is committed or among the `failed`: with a known
/// range, up to its last page; "until empty", up to the end some daemon found.
fn settled(
    link: &mut Link,
    config: &Config,
    keys: &Keys,
    failed: &HashMap<u64, String>,
) -> Result<bool> {
    let (last, end): (Option<String>, Option<String>) = link.try_once(|c| {
        redis::cmd("HMGET")
            .arg(&keys.meta)
            .arg(&["last", "end"])
            .query(c)
    })?;
    // `last` is empty in "until empty" mode.
    let number = |text: Option<String>| text.and_then(|t| t.parse::<u64>().ok());
    let Some(pages) = round_pages(config.site.first_page, number(last), number(end)) else {
        return Ok(false);
    };
    let pages: Vec<u64> = pages.collect();
    for chunk in pages.chunks(4096) {
        let done: Vec<bool> =
            link.try_once(|c| redis::cmd("SMISMEMBER").arg(&keys.done).arg(chunk).query(c))?;
        let open = chunk
            .iter()
            .zip(done)
            .any(|(page, done)| !done && !failed.contains_key(page));
        if open {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Adds the pages a crash left committed here but unacknowledged to the done-set, so that no
/// daemon fetches them again.
pub(super) fn reconcile(link: &mut Link, keys: &Keys, committed: &BTreeSet<u64>) -> Result<()> {
    if committed.is_empty() {
        return Ok(());
    }
    let pages: Vec<u64> = committed.iter().copied().collect();
    link.try_once(|c| c.sadd::<_, _, ()>(&keys.done, &pages))
        .context("recording pages committed by an earlier run in the done-set")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(range: &str) -> Config {
        Config::from_toml(&format!(
            "[site]\nurl = \"http://x/?p={{page}}\"\nfirst_page = 3\n{range}\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_known_range_is_seeded_a_large_window_at_a_time_up_to_its_last_page() {
        let args = SeedArgs::of(&config("last_page = 9"));
        assert_eq!(
            (args.first, args.last.as_str(), args.window, args.max_page),
            (3, "9", WINDOW_RANGE, u64::MAX)
        );
        assert_eq!(
            args.fp,
            "http://x/?p={page} 3..9 size=25 item=\"div\" fields=[(\"t\", \"a\")]"
        );
    }

    #[test]
    fn the_key_of_a_watched_crawl_is_part_of_its_fingerprint() {
        let keyed = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\nlast_page = 9\n[extract]\nitem = \"div\"\n\
             [extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\nkey = \"t\"\n",
        )
        .unwrap();
        let fp = SeedArgs::of(&keyed).fp;
        assert!(fp.ends_with(" key=\"t\""), "{fp}");
        assert!(!SeedArgs::of(&config("last_page = 9")).fp.contains("key="));
    }

    #[test]
    fn until_empty_is_seeded_a_small_window_at_a_time_up_to_max_pages() {
        let args = SeedArgs::of(&config("max_pages = 100"));
        assert_eq!(
            (args.last.as_str(), args.window, args.max_page),
            ("", WINDOW_UNTIL_EMPTY, 102)
        );
        assert!(args.fp.contains(" 3.. size=25 "), "{}", args.fp);
        assert_eq!(window(true, 7), (WINDOW_UNTIL_EMPTY, 7));
        assert_eq!(window(false, 7), (WINDOW_RANGE, u64::MAX));
    }
}
