//! The writer of a keyed crawl whose daemons share the last values in Redis ([`SharedWatch`]):
//! a page's lines are committed there before they are appended here; lines this daemon
//! committed there in an earlier run and did not write are written first; and after a round
//! every daemon completed, the gone keys, in batches each committed there first.
//!
//! [`SharedWatch`]: crate::store::shared_watch::SharedWatch

use anyhow::{Result, bail};

use super::keyed::encode_judged;
use super::{Session, Writer};
use crate::http::Validators;
use crate::pipeline::message::Item;
use crate::store::output::Event;
use crate::store::shared_watch::{ATTEMPTS, Unwritten};

impl Writer {
    /// Writes and commits the lines an earlier run of this daemon committed in the shared
    /// store and did not write, before any new page.
    pub(super) fn write_unwritten(&mut self, session: &mut Session) -> Result<()> {
        let Some(shared) = &mut self.shared else {
            return Ok(());
        };
        let unwritten = std::mem::take(&mut shared.unwritten);
        for entry in &unwritten {
            let (page, lines) = match entry {
                Unwritten::Page(page, lines) => (Some(*page), lines),
                Unwritten::Gone(batch, lines) => {
                    session.gone.push(*batch);
                    (None, lines)
                }
            };
            self.append(lines, session)?;
            let count = lines.iter().filter(|&&b| b == b'\n').count() as u64;
            self.wrote(page, count, session)?;
        }
        self.commit(session)
    }

    /// The lines of page `page`'s `items` into `buf`, committed in the shared store first
    /// with the page's `validators`: how many (none when another daemon committed the page).
    pub(super) fn encode_shared(
        &mut self,
        page: u64,
        url: &str,
        validators: &Validators,
        items: &[Item],
        buf: &mut Vec<u8>,
    ) -> Result<u64> {
        let Some(shared) = &mut self.shared else {
            return Ok(0);
        };
        let (encoder, events, round) = (&self.encoder, self.events, shared.round());
        shared.page(page, url, validators, items, buf, |judged, buf| {
            encode_judged(encoder, events, (round, page, url), items, judged, buf)
        })
    }

    /// Commits page `page`, which answered 304, in the shared store (its items are listed
    /// again, unchanged: nothing to write), then here.
    pub(super) fn write_shared_not_modified(
        &mut self,
        page: u64,
        url: &str,
        session: &mut Session,
    ) -> Result<()> {
        if let Some(shared) = &mut self.shared {
            shared.not_modified(page, url)?;
        }
        self.wrote(Some(page), 0, session)
    }

    /// Once every daemon has completed the round: writes (with `output.changes`) and commits
    /// the keys it did not list, as gone, a batch at a time, each committed in the shared
    /// store first. A stop, or a page that failed or was disallowed here, declares nothing
    /// gone; nor does a round another daemon has not completed: the last daemon to complete
    /// it does.
    pub(super) fn write_shared_gone(&mut self, session: &mut Session) -> Result<()> {
        let summary = self.stage.stats.snapshot();
        let here = !self.stage.shutdown.is_requested()
            && session.report.failed.is_empty()
            && summary.disallowed == 0;
        let Some(shared) = &mut self.shared else {
            return Ok(());
        };
        if !here || !shared.gone_due()? {
            return Ok(());
        }
        let round = shared.round();
        let (mut cursor, mut stale) = (0, 0);
        loop {
            let Some(shared) = &mut self.shared else {
                return Ok(());
            };
            let (next, batch) = shared.gone_at(cursor)?;
            if !batch.items.is_empty() {
                let mut buf = std::mem::take(&mut session.buf);
                buf.clear();
                let mut lines = 0;
                if self.events {
                    for item in &batch.items {
                        self.encoder.encode_event(
                            &Event::Gone,
                            round,
                            item.p,
                            &item.u,
                            &item.f,
                            &mut buf,
                        );
                        lines += 1;
                    }
                }
                let Some(number) = shared.commit_gone(&batch, &buf)? else {
                    // Another daemon took some of them first: read them again.
                    stale += 1;
                    if stale > ATTEMPTS {
                        bail!("other daemons kept changing the gone keys in Redis");
                    }
                    session.buf = buf;
                    continue;
                };
                session.gone.push(number);
                self.append(&buf, session)?;
                session.buf = buf;
                self.wrote(None, lines, session)?;
                self.commit(session)?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        match &mut self.shared {
            Some(shared) => shared.gone_written(),
            None => Ok(()),
        }
    }
}
