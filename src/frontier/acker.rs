//! The acker: listens to what the writer commits and acknowledges it in Redis. A committed batch
//! of pages goes in one atomic pipeline (done-set, seen-set, then `XACK` of the entries this
//! daemon holds); a failed page is recorded in the failed-hash and acknowledged.
//!
//! While the crawl runs it keeps trying (the writer waits for it, which holds the pipeline
//! back); once the writer is done, or a stop was requested, it gives Redis a deadline. A page
//! committed here but never acknowledged is fetched again by another daemon after its lease: a
//! duplicate, never a loss.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossbeam_channel::{Receiver, select};
use log::warn;
use redis::Pipeline;

use super::keys::{GROUP, Keys, members};
use super::leases::Leases;
use super::link::Link;
use crate::pipeline::message::Committed;
use crate::pipeline::stage::Listener;
use crate::shutdown::Shutdown;

/// How long the acker keeps trying at the end of a crawl before it gives up on Redis (the
/// pages stay unacknowledged and are fetched again by another daemon after their lease).
const ACK_DEADLINE: Duration = Duration::from_secs(30);

/// Acknowledges committed pages in Redis.
pub(crate) struct Acker {
    /// Its own connection.
    pub link: Link,
    /// The crawl's keys.
    pub keys: Keys,
    /// Pages in this daemon's pipeline, with their entry ids.
    pub leases: Arc<Leases>,
    /// Raised at Ctrl-C: the acker still acknowledges, but gives up on an unreachable Redis
    /// after a while.
    pub shutdown: Shutdown,
    /// With `output.key`: committed pages and gone batches leave the events hash.
    pub keyed: bool,
}

/// The entries of the events hash that the lines of `pages` and of the batches of gone keys
/// `gone` were committed under.
fn written_entries(pages: &[u64], gone: &[u64]) -> Vec<String> {
    let pages = pages.iter().map(|page| format!("p:{page}"));
    pages
        .chain(gone.iter().map(|batch| format!("g:{batch}")))
        .collect()
}

/// The deadline of a crawl that winds down: set at the first retry after the wind-down began.
#[derive(Debug, Default)]
struct Deadline(Option<Instant>);

impl Deadline {
    /// At `now`, winding down, before a retry that would pause `pause`: how long to pause, or
    /// `None` to give up.
    fn pause(&mut self, now: Instant, pause: Duration) -> Option<Duration> {
        let limit = *self.0.get_or_insert(now + ACK_DEADLINE);
        (now < limit).then(|| pause.min(limit - now))
    }
}

/// What one atomic pipeline does for a committed batch of pages: with `output.key`, `written`
/// names the entries of the events hash now written here.
fn acknowledge(
    keys: &Keys,
    pages: &[u64],
    seen: &[Vec<u8>],
    written: &[String],
    ids: &[String],
) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic();
    if !pages.is_empty() {
        pipe.sadd(&keys.done, pages).ignore();
    }
    if !seen.is_empty() {
        pipe.sadd(&keys.seen, seen).ignore();
    }
    if !written.is_empty() {
        pipe.hdel(&keys.events, written).ignore();
    }
    if !ids.is_empty() {
        pipe.cmd("XACK")
            .arg(&keys.pages)
            .arg(GROUP)
            .arg(ids)
            .ignore();
    }
    pipe
}

impl Listener for Acker {
    /// Acknowledges until the writer is gone and everything it sent is handled.
    fn run(mut self: Box<Self>, committed: Receiver<Committed>, writer_done: Receiver<()>) {
        let mut deadline = Deadline::default();
        let shutdown = self.shutdown.clone();
        for message in committed.iter() {
            // While the crawl runs, keep trying (the writer waits, which holds the pipeline
            // back); once it winds down, only until a deadline.
            let stop = |pause: Duration| {
                let winding_down = shutdown.is_requested()
                    || select! {
                        recv(writer_done) -> _ => true,
                        recv(shutdown.waker()) -> _ => true,
                        default(pause) => false,
                    };
                if !winding_down {
                    return false;
                }
                match deadline.pause(Instant::now(), pause) {
                    Some(pause) => {
                        std::thread::sleep(pause);
                        false
                    }
                    None => true,
                }
            };
            if let Err(err) = self.handle(message, stop) {
                warn!(
                    "{err:#}: these pages are committed here but not acknowledged; another \
                     daemon will fetch them again after their lease"
                );
            }
        }
    }
}

impl Acker {
    fn handle(&mut self, message: Committed, stop: impl FnMut(Duration) -> bool) -> Result<()> {
        let keys = &self.keys;
        match message {
            Committed::Pages {
                pages,
                keys: seen,
                gone,
            } => {
                let ids = self.leases.ids_of(&pages);
                let seen = members(&seen);
                let written = match self.keyed {
                    true => written_entries(&pages, &gone),
                    false => Vec::new(),
                };
                self.link
                    .retry("acknowledging committed pages", stop, |c| {
                        acknowledge(keys, &pages, &seen, &written, &ids).query::<()>(c)
                    })?;
                self.leases.release(&pages);
            }
            // The lease must end, or this daemon would renew it until it exits; recorded with
            // the failed pages, a disallowed page is put back in the stream by the next
            // `pagecrawl seed`, and robots.txt is asked again then.
            Committed::Disallowed { page } => {
                self.record_failed(page, "disallowed by robots.txt", stop)?;
            }
            Committed::Failed { page, reason } => {
                self.record_failed(page, &reason, stop)?;
            }
        }
        Ok(())
    }

    /// Records `page` as failed for `reason` in the frontier and acknowledges its lease.
    fn record_failed(
        &mut self,
        page: u64,
        reason: &str,
        stop: impl FnMut(Duration) -> bool,
    ) -> Result<()> {
        let keys = &self.keys;
        let id = self.leases.ids_of(&[page]);
        self.link.retry("recording a failed page", stop, |c| {
            let mut pipe = redis::pipe();
            pipe.atomic().hset(&keys.failed, page, reason).ignore();
            if !id.is_empty() {
                pipe.cmd("XACK")
                    .arg(&keys.pages)
                    .arg(GROUP)
                    .arg(&id[0])
                    .ignore();
            }
            pipe.query::<()>(c)
        })?;
        self.leases.release(&[page]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_starts_at_the_first_retry_of_the_wind_down_and_shortens_the_last_pause() {
        let start = Instant::now();
        let mut deadline = Deadline::default();
        let pause = Duration::from_secs(4);
        assert_eq!(deadline.pause(start, pause), Some(pause));
        let late = start + ACK_DEADLINE - Duration::from_secs(1);
        assert_eq!(deadline.pause(late, pause), Some(Duration::from_secs(1)));
        assert_eq!(deadline.pause(start + ACK_DEADLINE, pause), None);
    }

    #[test]
    fn a_batch_is_one_atomic_pipeline_of_done_seen_and_xack() {
        let keys = Keys::new("t");
        let seen = members(&[1, u128::MAX]);
        let ids = ["0-1".to_string()];
        let packed = String::from_utf8_lossy(
            &acknowledge(&keys, &[4, 5], &seen, &[], &ids).get_packed_pipeline(),
        )
        .to_string();
        let order: Vec<usize> = [
            "MULTI",
            "pagecrawl:t:done",
            "pagecrawl:t:seen",
            "XACK",
            "EXEC",
        ]
        .iter()
        .map(|word| {
            packed
                .find(word)
                .unwrap_or_else(|| panic!("{word} in {packed:?}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{packed:?}");
        // Without dedup keys or held entries, only the done-set.
        let bare =
            String::from_utf8_lossy(&acknowledge(&keys, &[4], &[], &[], &[]).get_packed_pipeline())
                .to_string();
        assert!(
            !bare.contains("XACK") && !bare.contains(":seen") && !bare.contains("HDEL"),
            "{bare:?}"
        );
    }

    #[test]
    fn a_keyed_batch_clears_the_events_it_wrote_in_the_same_pipeline() {
        let keys = Keys::new("t");
        let written = written_entries(&[4, 5], &[9]);
        assert_eq!(written, ["p:4", "p:5", "g:9"]);
        let packed = String::from_utf8_lossy(
            &acknowledge(&keys, &[4, 5], &[], &written, &[]).get_packed_pipeline(),
        )
        .to_string();
        let hdel = packed.find("HDEL").expect("HDEL");
        assert!(packed.find("MULTI").unwrap() < hdel && hdel < packed.find("EXEC").unwrap());
        assert!(packed.contains("pagecrawl:t:events") && packed.contains("g:9"));
        // A commit of gone keys alone touches no done-set.
        let gone_only = String::from_utf8_lossy(
            &acknowledge(&keys, &[], &[], &written_entries(&[], &[9]), &[]).get_packed_pipeline(),
        )
        .to_string();
        assert!(!gone_only.contains(":done"), "{gone_only:?}");
    }
}
