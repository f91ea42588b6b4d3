//! Conditional requests: what a server said of a page (its `ETag`, its `Last-Modified`) that
//! lets it be asked again next round with `If-None-Match` and `If-Modified-Since`, so that an
//! unchanged page answers `304 Not Modified` with no body.
//!
//! It only carries the validators; the client sends them and reads them back, and the store
//! keeps them between rounds.

/// A page's validators, as its server sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` header, as sent (quotes and `W/` included).
    pub etag: Option<String>,
    /// The `Last-Modified` header, as sent (an HTTP date).
    pub last_modified: Option<String>,
}

/// Each list page's validators of the last round, by URL, shared by the crawlers of a round.
pub type PageValidators = std::sync::Arc<std::collections::HashMap<String, Validators>>;

/// The longest validator kept, in bytes: a real one is a hash or a date; a longer one is
/// dropped rather than stored and sent back.
const MAX_VALIDATOR_BYTES: usize = 512;

impl Validators {
    /// The validators of a response whose headers are `header`.
    pub fn of(header: impl Fn(&str) -> Option<String>) -> Validators {
        let keep = |value: Option<String>| {
            value.filter(|v| !v.is_empty() && v.len() <= MAX_VALIDATOR_BYTES)
        };
        Validators {
            etag: keep(header("etag")),
            last_modified: keep(header("last-modified")),
        }
    }

    /// Whether there is nothing to ask with.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// The request headers that ask for the page only if it changed: `If-None-Match` with the
    /// `ETag`, else `If-Modified-Since` with the date (RFC 9110 gives `If-None-Match`
    /// precedence, so both would say the same).
    pub fn request_headers(&self) -> Option<(&'static str, &str)> {
        match (&self.etag, &self.last_modified) {
            (Some(etag), _) => Some(("if-none-match", etag)),
            (None, Some(date)) => Some(("if-modified-since", date)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_wins_and_odd_values_are_dropped() {
        let v = Validators::of(|name| match name {
            "etag" => Some("W/\"abc\"".into()),
            "last-modified" => Some("Mon, 07 Dec 2026 00:00:00 GMT".into()),
            _ => None,
        });
        assert_eq!(v.request_headers(), Some(("if-none-match", "W/\"abc\"")));
        let v = Validators::of(|name| {
            (name == "last-modified").then(|| "Mon, 07 Dec 2026 00:00:00 GMT".into())
        });
        assert_eq!(
            v.request_headers(),
            Some(("if-modified-since", "Mon, 07 Dec 2026 00:00:00 GMT"))
        );
        let long = Validators::of(|name| (name == "etag").then(|| "x".repeat(600)));
        assert!(long.is_empty());
        assert!(Validators::of(|_| Some(String::new())).is_empty());
    }
}
