//! The grace period: once a stop is requested, the requests in flight get `http.shutdown_grace`
//! to finish; then their connections are shut down under them, so a server that never answers
//! cannot hold a stop for longer. The watch ends, without doing anything, when the crawlers are
//! done first.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, select};
use log::warn;

use super::stage::Context;
use crate::shutdown::Shutdown;

/// Waits for a stop, then for `crawlers_done` to disconnect for at most `grace`; calls `abandon`
/// if that does not come in time. Returns at once when `crawlers_done` disconnects first.
pub(crate) fn watch(
    shutdown: &Shutdown,
    grace: Duration,
    crawlers_done: &Receiver<()>,
    abandon: impl FnOnce(),
) {
    select! {
        recv(crawlers_done) -> _ => return,
        recv(shutdown.waker()) -> _ => {}
    }
    if let Err(RecvTimeoutError::Timeout) = crawlers_done.recv_timeout(grace) {
        warn!(
            "the grace period ({:.1}s) is over: abandoning requests in flight; their pages are \
             not committed and will be fetched next time",
            grace.as_secs_f64()
        );
        abandon();
    }
}

/// What the end of the grace period does to a round of `context`: the follow-ups of pages
/// already fetched give up, and every connection is shut down under its request.
pub(crate) fn abandon(context: &Context) -> impl FnOnce() + Send + use<> {
    let (give_up, client) = (context.give_up.clone(), context.client.clone());
    move || {
        give_up.request();
        client.abandon();
    }
}
