//! A connection to the frontier's Redis that reconnects, and retries with backoff until told to
//! stop; every other file of the frontier talks to Redis through it.

use std::time::Duration;

use anyhow::{Context, Result};
use crossbeam_channel::select;
use log::{debug, warn};
use redis::{Connection, RedisResult};

use crate::config::RedisFrontierConfig;
use crate::shutdown::Shutdown;

/// The longest pause between two attempts to reach Redis.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A connection to the frontier's Redis that reconnects and retries with backoff.
pub(crate) struct Link {
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
    pub(super) fn try_once<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
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
    pub(super) fn retry<T>(
        &mut self,
        what: &str,
        mut stop: impl FnMut(Duration) -> bool,
        mut f: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.try_once(&mut f) {
                Ok(value) => return Ok(value),
                // Redis refused the command itself, or answered with another shape than asked
                // for (a key of another type, a value that is not ours): it would only refuse
                // it again.
                Err(err) if is_permanent(&err) => {
                    return Err(err.context(format!(
                        "frontier {}: {what} (not retried: Redis refused it, or answered \
                         what pagecrawl does not expect there)",
                        self.url
                    )));
                }
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

/// Whether `err` will not go away by retrying: what the client library says of it.
fn is_permanent(err: &anyhow::Error) -> bool {
    err.downcast_ref::<redis::RedisError>()
        .is_some_and(|err| matches!(err.retry_method(), redis::RetryMethod::NoRetry))
}

/// Waits `pause` unless `shutdown` is requested first; returns whether it was.
pub(super) fn pause_or_shutdown(shutdown: &Shutdown, pause: Duration) -> bool {
    if shutdown.is_requested() {
        return true;
    }
    select! {
        recv(shutdown.waker()) -> _ => true,
        default(pause) => shutdown.is_requested(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_of_another_shape_is_permanent_and_a_refused_connection_is_not() {
        let shape = redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "a string"));
        assert!(is_permanent(&anyhow::Error::from(shape).context("reading")));
        let refused =
            redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(!is_permanent(&anyhow::Error::from(refused)));
        assert!(!is_permanent(&anyhow::anyhow!("not a Redis error")));
    }
}
