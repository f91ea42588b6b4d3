//! Why a page could not be fetched, and whether another attempt may succeed.

use std::fmt;
use std::time::Duration;

/// Why a page could not be fetched.
#[derive(Debug)]
pub enum FetchError {
    /// The server answered with a status that is not 2xx.
    Status {
        /// The status code.
        code: u16,
        /// The `Retry-After` delay it asked for, if any.
        retry_after: Option<Duration>,
    },
    /// The body was larger than `http.max_body_bytes`.
    TooLarge(u64),
    /// The request did not finish within `http.timeout_secs` (or the connect timeout).
    Timeout(ureq::Error),
    /// The connection could not be made or broke off (including a body cut short).
    Network(ureq::Error),
    /// A redirect that was not followed: to another scheme or host, or one too many.
    Redirect(String),
    /// The address guard refused a connection (see [`crate::http::policy`]).
    Refused(String),
    /// The body came in a `Content-Encoding` that was not asked for, or did not decode.
    Encoding(String),
    /// The TLS handshake failed: a certificate that expired, names another host or has an
    /// unknown issuer. The URL and what failed, in words.
    Tls(String),
    /// Anything else the client reported (a bad URL).
    Other(ureq::Error),
    /// A downloaded file could not be written (a full disk, a folder that went away).
    Store(String),
    /// The server answered `304 Not Modified` to a request that sent no validator: there is
    /// no earlier copy to keep, and no body.
    NotModifiedUnasked,
    /// No connection could be made for the site's robots.txt (refused, reset, no such host)
    /// in any of its attempts: the site is down, so the page was not asked for. The robots.txt URL and
    /// the last failure.
    SiteDown(String),
    /// Shutdown was requested while waiting to (re)try; the page was not fetched.
    Interrupted,
    /// The page was no longer wanted when its turn came (it is past the listing's end, or the
    /// crawl stopped before it): it was not asked for.
    NotWanted,
}

impl FetchError {
    /// Whether another attempt may succeed.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            FetchError::Status { code, .. } => *code == 429 || (500..=599).contains(code),
            FetchError::Timeout(_) | FetchError::Network(_) => true,
            FetchError::TooLarge(_)
            | FetchError::Redirect(_)
            | FetchError::Refused(_)
            | FetchError::Encoding(_)
            | FetchError::Tls(_)
            | FetchError::Other(_)
            | FetchError::Store(_)
            | FetchError::NotModifiedUnasked
            | FetchError::SiteDown(_)
            | FetchError::Interrupted
            | FetchError::NotWanted => false,
        }
    }

    /// Whether no connection could be made at all (refused, no route, no such host): the
    /// site did not answer, as opposed to answering badly or breaking off.
    pub(crate) fn is_no_connection(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            FetchError::SiteDown(_) => true,
            FetchError::Network(ureq::Error::ConnectionFailed | ureq::Error::HostNotFound) => true,
            FetchError::Network(ureq::Error::Io(io)) => matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
            ),
            _ => false,
        }
    }

    /// What ureq's `err` means for the page; a body over `limit` is [`FetchError::TooLarge`].
    pub(crate) fn from_ureq(err: ureq::Error, limit: u64) -> FetchError {
        match err {
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge(limit),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                FetchError::Refused(io.to_string())
            }
            ureq::Error::Timeout(_) => FetchError::Timeout(err),
            ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_) => FetchError::Network(err),
            err => FetchError::Other(err),
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Status { code, .. } => write!(f, "http status {code}"),
            FetchError::TooLarge(limit) => {
                write!(f, "body larger than http.max_body_bytes ({limit} bytes)")
            }
            FetchError::Timeout(err) => write!(f, "timed out: {err}"),
            FetchError::Network(err) => write!(f, "network error: {err}"),
            FetchError::Redirect(why) => write!(f, "{why}"),
            FetchError::Refused(why)
            | FetchError::Encoding(why)
            | FetchError::Tls(why)
            | FetchError::Store(why) => {
                write!(f, "{why}")
            }
            FetchError::Other(err) => write!(f, "{err}"),
            FetchError::NotModifiedUnasked => write!(
                f,
                "answered 304 Not Modified to a request that sent no If-None-Match or \
                 If-Modified-Since: there is no earlier copy of the page to keep"
            ),
            FetchError::SiteDown(why) => write!(
                f,
                "the site is unreachable: its robots.txt got no answer ({why})"
            ),
            FetchError::Interrupted => write!(f, "interrupted by shutdown"),
            FetchError::NotWanted => write!(f, "no longer wanted when its turn came"),
        }
    }
}

impl std::error::Error for FetchError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_errors() {
        let status = |code| FetchError::Status {
            code,
            retry_after: None,
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(404).is_retryable());
        assert!(!FetchError::TooLarge(1).is_retryable());
        assert!(!FetchError::Interrupted.is_retryable());
    }
}
