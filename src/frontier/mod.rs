//! The shared frontier: several daemons crawl one page range through Redis.
//!
//! Page numbers are entries of a Redis stream read by one consumer group; every daemon is a
//! consumer. Delivery is at least once, with leases:
//!
//! - the feeder takes pages with `XREADGROUP` and puts them in the same bounded `pages` channel
//!   as the local feeder; crawlers, parsers and the writer do not know where pages come from;
//! - a page is acknowledged (`XACK`), and added to the done-set, only after the writer has
//!   committed its items to the local output: the acker listens to the writer's commits;
//! - a page a daemon took but did not acknowledge within `lease_secs` (it died, or was killed)
//!   is taken over by another with `XAUTOCLAIM`; a daemon renews the leases of the pages still
//!   in its own pipeline, so a slow page is not taken from a live daemon;
//! - "until empty" works across daemons: the range is added to the stream a window at a time,
//!   and the lowest empty page any daemon saw is the end for all.
//!
//! Keys, for a crawl named `books`: `pagecrawl:books:pages` (the stream; group `crawlers`),
//! `…:meta` (a hash: the crawl's fingerprint, range, next page to add, end), `…:done` (a set of
//! committed pages), `…:failed` (a hash: page → reason) and `…:seen` (a set of dedup keys).
//! With `output.key`, the crawl runs in rounds (`…:meta`'s `round`, started by `pagecrawl
//! seed`), `…:items` holds each key's last values and `…:events` the lines committed and not
//! yet written (see `shared_keys.rs` and [`crate::store::shared_watch`]).
//!
//! A daemon that loses Redis keeps what it has: it retries with backoff, logs, and never
//! acknowledges a page that is not committed. A committed page that could not be acknowledged
//! is fetched again by someone after its lease: a duplicate, never a loss.
//!
//! Files: `keys.rs` (key names), `link.rs` (connection and retries), `seed.rs` (seeding and
//! reconciling), `leases.rs` (pages held), `redis_feeder.rs` (the shared crawl's [`Source`] of
//! pages), `acker.rs` (the [`Listener`] to commits), `shared_seen.rs` (the shared dedup set),
//! `shared_keys.rs` (the shared last values of `output.key`). This file
//! sets a daemon up in a shared crawl for a round, and runs `pagecrawl seed`.
//!
//! [`Source`]: crate::pipeline::stage::Source
//! [`Listener`]: crate::pipeline::stage::Listener

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Result, bail};
use log::info;

use crate::config::{Config, FrontierConfig, RedisFrontierConfig};
use crate::pipeline::stage::{Frontier, Listener, Source, Stage};
use crate::shutdown::Shutdown;
use crate::store::shared_watch::Unwritten;

mod acker;
mod keys;
mod leases;
mod link;
mod redis_feeder;
mod seed;
mod shared_keys;
mod shared_seen;

pub(crate) use acker::Acker;
use keys::{Keys, consumer_name};
use leases::Leases;
use link::Link;
pub(crate) use redis_feeder::RedisFeeder;
pub use seed::Seeded;
pub(crate) use shared_keys::RedisKeys;
use shared_keys::daemon_name;
pub(crate) use shared_seen::SharedSeen;

/// A daemon's part in a shared crawl, for one round: Redis reachable, the crawl seeded (or
/// joined) and checked to be the same crawl.
pub(crate) struct SharedCrawl {
    /// The frontier's settings.
    redis: RedisFrontierConfig,
    /// The crawl's keys.
    keys: Keys,
    /// The connection used for setting up.
    link: Link,
    /// The round, with `output.key` (1 without).
    round: u64,
}

impl SharedCrawl {
    /// Connects and seeds (or joins) the crawl of `config`: a clear error before anything
    /// starts if Redis cannot be reached or holds another crawl. A keyed crawl run as a
    /// service (`scheduled`) starts its next round here once the last is over.
    pub fn join(
        redis: &RedisFrontierConfig,
        config: &Config,
        scheduled: bool,
    ) -> Result<SharedCrawl> {
        let mut link = Link::connect(redis)?;
        let keys = Keys::new(&redis.name);
        match seed::seed(&mut link, config, &keys, false)? {
            Seeded::Now(pages) => {
                info!("frontier {}: seeded the crawl ({pages} pages)", keys.pages)
            }
            Seeded::Already { .. } => info!("frontier {}: joining the crawl", keys.pages),
            Seeded::NextRound { .. } | Seeded::Running { .. } => {}
        }
        if scheduled && config.output.key.is_some() {
            match seed::advance(&mut link, config, &keys)? {
                Seeded::NextRound { round, pages } => {
                    info!(
                        "frontier {}: round {round} starts ({pages} pages)",
                        keys.pages
                    )
                }
                Seeded::Already { requeued } if requeued > 0 => info!(
                    "frontier {}: {requeued} failed pages put back in the round",
                    keys.pages
                ),
                _ => {}
            }
        }
        let round = seed::round(&mut link, &keys)?;
        if config.output.key.is_some() && seed::is_over(&mut link, &keys, round)? {
            // A service got here only if the next round could not start: some daemon's lines
            // are still unwritten in Redis.
            let next = match scheduled {
                true => format!(
                    "round {} starts once every daemon named in {} has written its lines",
                    round + 1,
                    keys.events
                ),
                false => format!("`pagecrawl seed` starts round {}", round + 1),
            };
            info!(
                "frontier {}: round {round} is over (every page committed, its gone keys \
                 written): this daemon has nothing to crawl; {next}",
                keys.pages
            );
        }
        Ok(SharedCrawl {
            redis: redis.clone(),
            keys,
            link,
            round,
        })
    }

    /// The round the daemons crawl, numbered in Redis.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// The last values of the keys, shared in Redis, for the daemon that writes `config`'s
    /// output: with the lines it committed there in an earlier run and did not write, given
    /// what its journal says it wrote (`committed` pages, `gone` batches).
    pub fn keys(
        &self,
        config: &Config,
        committed: &BTreeSet<u64>,
        gone: &BTreeSet<u64>,
        shutdown: &Shutdown,
    ) -> Result<(RedisKeys, Vec<Unwritten>)> {
        let mut keys = RedisKeys {
            link: Link::connect(&self.redis)?,
            keys: self.keys.clone(),
            daemon: daemon_name(&config.output.path),
            round: self.round,
            first_page: config.site.first_page,
            shutdown: shutdown.clone(),
        };
        let unwritten = keys.unwritten(committed, gone)?;
        if !unwritten.is_empty() {
            info!(
                "frontier {}: writing {} pages and batches of gone keys this daemon committed \
                 in Redis before it stopped",
                self.keys.events,
                unwritten.len()
            );
        }
        Ok((keys, unwritten))
    }

    /// Marks the pages a crash left committed here but unacknowledged as done, for every daemon.
    pub fn reconcile(&mut self, committed: &BTreeSet<u64>) -> Result<()> {
        seed::reconcile(&mut self.link, &self.keys, committed)
    }

    /// The dedup seen-set the daemons share, on a connection of its own.
    pub fn seen(&self, shutdown: &Shutdown) -> Result<SharedSeen> {
        Ok(SharedSeen {
            link: Link::connect(&self.redis)?,
            key: self.keys.seen.clone(),
            shutdown: shutdown.clone(),
        })
    }

    /// The round's feeder and acker, each on a connection of its own, sharing the leases.
    pub fn threads(self, config: &Config, stage: Stage) -> Result<(RedisFeeder, Acker)> {
        let leases = Arc::new(Leases::default());
        let acker = Acker {
            link: Link::connect(&self.redis)?,
            keys: self.keys.clone(),
            leases: leases.clone(),
            shutdown: stage.shutdown.clone(),
            keyed: config.output.key.is_some(),
        };
        let feeder = RedisFeeder {
            link: Link::connect(&self.redis)?,
            keys: self.keys,
            consumer: consumer_name(),
            lease: self.redis.lease,
            leases,
            until_empty: config.site.last_page.is_none(),
            max_page: config.site.max_page(),
            site: config.site.clone(),
            stage,
        };
        Ok((feeder, acker))
    }
}

impl Frontier for SharedCrawl {
    fn threads(
        self: Box<Self>,
        config: &Config,
        stage: Stage,
    ) -> Result<(Box<dyn Source>, Box<dyn Listener>)> {
        let (feeder, acker) = SharedCrawl::threads(*self, config, stage)?;
        Ok((Box::new(feeder), Box::new(acker)))
    }
}

/// What `pagecrawl seed` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// The stream seeded, `pagecrawl:<name>:pages`.
    pub stream: String,
    /// What was done.
    pub seeded: Seeded,
}

/// `pagecrawl seed`: puts the range of a `[frontier] kind = "redis"` crawl into Redis (exactly
/// as the first daemon to start would), or, when it is there already, puts back the pages that
/// failed.
pub fn seed(config: &Config) -> Result<SeedReport> {
    let FrontierConfig::Redis(redis) = &config.frontier else {
        bail!(
            "`pagecrawl seed` needs `[frontier] kind = \"redis\"` in the config; a local \
             crawl has nothing to seed"
        );
    };
    let mut link = Link::connect(redis)?;
    let keys = Keys::new(&redis.name);
    let seeded = seed::seed(&mut link, config, &keys, true)?;
    Ok(SeedReport {
        stream: keys.pages,
        seeded,
    })
}
