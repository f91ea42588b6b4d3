//! `site.next_url`: the URL a cursor goes into, when a page's next link (`site.next`) is a bare
//! value (an opaque token, a number) rather than a URL.
//!
//! `"https://example.com/api/items?cursor={next}"`: `{next}` is the only placeholder, `{{` and
//! `}}` are literal braces, as in `site.url`. The cursor is percent-encoded as it goes in, so a
//! token such as `a+b/c==` reaches the server as the same bytes.

use url::Url;

use super::url_template::{Piece, closest, split_template};

/// A checked `site.next_url` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextUrl {
    /// As written in the config.
    source: String,
    /// Its text, with `None` where the cursor goes.
    parts: Vec<Option<String>>,
}

impl NextUrl {
    /// Checks `template`: its braces, `{next}` at least once and no other placeholder, and an
    /// http or https URL with a host once a cursor is in.
    pub fn parse(template: &str) -> Result<NextUrl, String> {
        let pieces = split_template(template).map_err(|err| format!("`site.next_url`: {err}"))?;
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            parts.push(match piece {
                Piece::Text(text) => Some(text),
                Piece::Placeholder("next") => None,
                Piece::Placeholder(other) => {
                    let hint = match closest(other, &["next"], &[("cursor", "next")]) {
                        Some(known) => format!("did you mean `{{{known}}}`? "),
                        None => String::new(),
                    };
                    return Err(format!(
                        "`site.next_url` has an unknown placeholder `{{{other}}}`: {hint}(only \
                         `{{next}}`, the value `site.next` finds, exists)"
                    ));
                }
            });
        }
        if parts.iter().all(Option::is_some) {
            return Err(format!(
                "`site.next_url` must contain `{{next}}`, where the value `site.next` finds \
                 goes: {template:?}"
            ));
        }
        let next_url = NextUrl {
            source: template.to_string(),
            parts,
        };
        let sample = next_url.render("c");
        let url = Url::parse(&sample).map_err(|err| {
            format!("`site.next_url` is not a valid URL once filled in ({err}): {sample:?}")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(format!(
                "`site.next_url` must be an http:// or https:// URL with a host: {sample:?}"
            ));
        }
        Ok(next_url)
    }

    /// The URL of the page after the one whose next value is `cursor`, percent-encoded.
    pub fn render(&self, cursor: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect();
        let mut url = String::with_capacity(self.source.len() + encoded.len());
        for part in &self.parts {
            url.push_str(part.as_deref().unwrap_or(&encoded));
        }
        url
    }

    /// The template as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl<'de> serde::Deserialize<'de> for NextUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<NextUrl, D::Error> {
        let text = String::deserialize(deserializer)?;
        NextUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for NextUrl {
    /// As written in the config.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_goes_in_percent_encoded() {
        let next = NextUrl::parse("https://api.example/items?cursor={next}&n=20").unwrap();
        assert_eq!(
            next.render("a+b/c=="),
            "https://api.example/items?cursor=a%2Bb%2Fc%3D%3D&n=20"
        );
        assert_eq!(
            next.render("42"),
            "https://api.example/items?cursor=42&n=20"
        );
        let braces = NextUrl::parse("http://h.example/q?f={{{next}}}").unwrap();
        assert_eq!(braces.render("x"), "http://h.example/q?f={x}");
    }

    #[test]
    fn what_is_refused() {
        for (template, says) in [
            (
                "http://h.example/items",
                "`site.next_url` must contain `{next}`",
            ),
            (
                "http://h.example/items?c={cursor}",
                "unknown placeholder `{cursor}`: did you mean `{next}`?",
            ),
            (
                "http://h.example/items?c={page}",
                "unknown placeholder `{page}`: (only `{next}`",
            ),
            (
                "ftp://h.example/{next}",
                "must be an http:// or https:// URL",
            ),
            ("{next}", "is not a valid URL once filled in"),
            ("http://h.example/{next", "`site.next_url`: unclosed `{`"),
        ] {
            let err = NextUrl::parse(template).unwrap_err();
            assert!(err.contains(says), "{template}: {err}");
        }
    }
}
