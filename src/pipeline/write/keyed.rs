//! The writer of a keyed crawl (`output.key`): each page's items compared with what the store
//! knows ([`Watch`]), written as events (`output.changes`) or as items; a page that answered
//! 304 listed again from the store; and, once a round is complete, the keys it did not list
//! written as gone, in commits of their own before the round's end is recorded.

use anyhow::Result;
use log::warn;

use super::{Session, Writer};
use crate::pipeline::listing::items_hash;
use crate::pipeline::message::{Item, Learned, NextPage, NoContent, Parsed};
use crate::store::changes::{Judged, Verdict};
use crate::store::items::{NamedNext, PageRow};
use crate::store::output::{Event, LineEncoder};

/// How many gone keys one commit writes.
const GONE_PER_COMMIT: usize = 1024;

impl Writer {
    /// `message`, with what the store knows of the page when it answered 304: the end of an
    /// "until empty" listing compares pages by it (a known range needs no look).
    pub(super) fn looked_up(&self, mut message: Parsed) -> Result<Parsed> {
        if !self.listing.until_empty() {
            return Ok(message);
        }
        if let (Some(watch), Err(NoContent::NotModified { listed })) =
            (&self.watch, &mut message.content)
        {
            let (count, hash) = watch.stored_page(&message.url)?;
            *listed = Some((count, hash.unwrap_or_default()));
        }
        Ok(message)
    }

    /// The lines of a keyed page into `buf`: its events, or every item; returns how many.
    pub(super) fn encode_keyed(
        &mut self,
        page: u64,
        url: &str,
        items: &[Item],
        learned: Learned,
        buf: &mut Vec<u8>,
    ) -> Result<u64> {
        let Some(watch) = &mut self.watch else {
            return Ok(0);
        };
        let page_row = PageRow {
            url: url.to_string(),
            page,
            items: items.len() as u64,
            items_hash: items_hash(items),
            next: named_next(&learned),
            validators: learned.validators,
        };
        let judged = watch.page(page_row, items, &learned.details)?;
        let round = watch.round();
        Ok(encode_judged(
            &self.encoder,
            self.events,
            (round, page, url),
            items,
            &judged,
            buf,
        ))
    }

    /// Writes a page that answered 304: with every item written each round, its items as the
    /// store knows them; with events, nothing (none changed, none is gone).
    pub(super) fn write_not_modified(
        &mut self,
        page: u64,
        url: &str,
        session: &mut Session,
    ) -> Result<()> {
        let Some(watch) = &mut self.watch else {
            return Ok(());
        };
        let items = watch.not_modified(url, !self.events)?;
        let mut buf = std::mem::take(&mut session.buf);
        buf.clear();
        let mut written = 0;
        if !self.events {
            for fields in &items {
                self.encoder.encode_json(page, url, fields, &mut buf);
                written += 1;
            }
        }
        self.append(&buf, session)?;
        session.buf = buf;
        self.wrote(Some(page), written, session)
    }

    /// Whether this round saw every page it meant to and found the listing's end (or reached
    /// `last_page`): only then are the keys it did not list gone. A stop, a failed page, a page
    /// robots.txt disallowed or a limit reached declares nothing gone.
    pub(super) fn round_complete(&self, session: &Session) -> bool {
        let summary = self.stage.stats.snapshot();
        !self.stage.shutdown.is_requested()
            && session.report.failed.is_empty()
            && summary.disallowed == 0
            && summary.not_crawled == 0
            && self.listing.is_complete()
    }

    /// Writes (with `output.changes`) and commits the keys this complete round did not list,
    /// as gone, in batches of [`GONE_PER_COMMIT`].
    pub(super) fn write_gone(&mut self, session: &mut Session) -> Result<()> {
        loop {
            let Some(watch) = &mut self.watch else {
                return Ok(());
            };
            let round = watch.round();
            let gone = watch.gone(GONE_PER_COMMIT)?;
            if gone.is_empty() {
                return Ok(());
            }
            let mut buf = std::mem::take(&mut session.buf);
            buf.clear();
            let mut written = 0;
            if self.events {
                for item in &gone {
                    let event = Event::Gone;
                    self.encoder.encode_event(
                        &event,
                        round,
                        item.page,
                        &item.url,
                        &item.fields,
                        &mut buf,
                    );
                    written += 1;
                }
            }
            self.append(&buf, session)?;
            session.buf = buf;
            self.wrote(None, written, session)?;
            self.commit(session)?;
        }
    }
}

/// What a page named as the page after it, for the store: on a next-link listing, the link it
/// named (even one back to a page already crawled, so that the loop is found again when the
/// page answers 304), or that it was the last.
fn named_next(learned: &Learned) -> NamedNext {
    match (&learned.next, learned.has_next) {
        (None, _) => NamedNext::Numbered,
        (Some(NextPage::None), _) | (Some(_), Some(false)) => NamedNext::Last,
        (Some(NextPage::At(url) | NextPage::Loop(url)), _) => NamedNext::At(url.clone()),
    }
}

/// The lines of page `page` (of `round`, at `url`) into `buf`, its `items` as `judged`: its
/// events with `events` (`output.changes`), every item without; returns how many. Items
/// without a key are written as they are, and said in the log.
pub(super) fn encode_judged(
    encoder: &LineEncoder,
    events: bool,
    (round, page, url): (u64, u64, &str),
    items: &[Item],
    judged: &[Judged],
    buf: &mut Vec<u8>,
) -> u64 {
    let without_key = judged
        .iter()
        .filter(|j| j.verdict == Verdict::NoKey)
        .count();
    if without_key > 0 {
        warn!(
            "page {page} ({url}): {without_key} items have no value in `output.key`: written as \
             they are, and not followed across rounds"
        );
    }
    if !events {
        return encoder.encode_page(page, url, items, buf);
    }
    let mut written = 0;
    for Judged { fields, verdict } in judged {
        let event = match verdict {
            Verdict::Unchanged => continue,
            Verdict::NoKey => None,
            Verdict::New => Some(Event::New),
            Verdict::Changed { fields, previous } => Some(Event::Changed { fields, previous }),
        };
        match event {
            Some(event) => encoder.encode_event(&event, round, page, url, fields, buf),
            None => encoder.encode_json(page, url, fields, buf),
        }
        written += 1;
    }
    written
}
