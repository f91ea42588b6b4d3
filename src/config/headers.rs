//! `[http.headers]`: extra request headers from the config, such as `Accept-Language`, `Cookie`
//! or `Referer`, checked so that none can break a request, smuggle another header in, or take
//! over a header pagecrawl itself must control.
//!
//! It only checks the table; the HTTP client adds the headers to its requests.

/// The most extra headers accepted.
pub const MAX_HEADERS: usize = 64;
/// The longest value accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 8 * 1024;
/// What all the extra headers may weigh together on the wire (`Name: value\r\n` each), in
/// bytes: many servers refuse request heads over 8 to 16 KiB in all.
pub const MAX_TOTAL_BYTES: usize = 16 * 1024;

/// Headers that pagecrawl sets or relies on, lower-case, and why a config may not set them.
const OWNED: [(&str, &str); 19] = [
    (
        "host",
        "it is set from each request's URL, which the address policy checks",
    ),
    ("content-length", "the client frames requests itself"),
    ("transfer-encoding", "the client frames requests itself"),
    ("connection", "the client manages its connections"),
    ("keep-alive", "the client manages its connections"),
    ("proxy-connection", "the client manages its connections"),
    ("upgrade", "the client manages its connections"),
    ("te", "the client manages its connections"),
    ("trailer", "the client frames requests itself"),
    (
        "accept-encoding",
        "pagecrawl asks for gzip, deflate and br and decodes them itself, so that \
         `http.max_body_bytes` holds after decoding",
    ),
    (
        "user-agent",
        "set it with `http.user_agent`, the name robots.txt rules are matched against",
    ),
    (
        "range",
        "pages must come whole: a 206 Partial Content body would be parsed as the page",
    ),
    (
        "if-range",
        "pages must come whole: a 206 Partial Content body would be parsed as the page",
    ),
    (
        "if-modified-since",
        "a 304 Not Modified has no body: the page would yield no items",
    ),
    (
        "if-none-match",
        "a 304 Not Modified has no body: the page would yield no items",
    ),
    ("if-match", "a 412 would fail the page"),
    ("if-unmodified-since", "a 412 would fail the page"),
    ("expect", "requests have no body to announce"),
    (
        "proxy-authorization",
        "give the proxy's credentials in `http.proxy` (http://user:password@host:port)",
    ),
];

/// The checked `[http.headers]`, in the config's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraHeaders {
    /// `(name, value)`: the name as written, the value without surrounding spaces or tabs.
    headers: Vec<(String, String)>,
}

impl ExtraHeaders {
    /// Checks the `[http.headers]` table: names are HTTP tokens (RFC 9110, section 5.1), none
    /// twice in any case, none that pagecrawl owns (`Host`, `User-Agent`, `Accept-Encoding`,
    /// framing, connection and conditional headers: the error says why); values are strings of
    /// visible ASCII, spaces and tabs (a CR or LF would end the header and start another, and
    /// servers read other bytes differently); at most [`MAX_HEADERS`] headers,
    /// [`MAX_VALUE_BYTES`] a value and [`MAX_TOTAL_BYTES`] in all. Errors name the key
    /// (`http.headers.Cookie`).
    pub fn from_toml(table: &toml::Table) -> Result<ExtraHeaders, String> {
        if table.len() > MAX_HEADERS {
            return Err(format!(
                "`[http.headers]` holds {} headers, at most {MAX_HEADERS}",
                table.len()
            ));
        }
        let mut headers: Vec<(String, String)> = Vec::with_capacity(table.len());
        let mut total = 0;
        for (name, value) in table {
            let key = key_of(name);
            check_name(&key, name)?;
            if let Some((first, _)) = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                return Err(format!(
                    "`{key}` is the same header as `{}` (header names ignore case)",
                    key_of(first)
                ));
            }
            let value = match value {
                toml::Value::String(value) => value.trim_matches([' ', '\t']),
                other => {
                    return Err(format!(
                        "`{key}` must be a string, got {}: write {name} = \"{other}\"",
                        other.type_str()
                    ));
                }
            };
            check_value(&key, value)?;
            total += name.len() + value.len() + 4;
            if total > MAX_TOTAL_BYTES {
                return Err(format!(
                    "`[http.headers]` must be at most {MAX_TOTAL_BYTES} bytes in all; it is over \
                     that by `{key}`"
                ));
            }
            headers.push((name.clone(), value.to_string()));
        }
        Ok(ExtraHeaders { headers })
    }

    /// The headers as `(name, value)`, in the config's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

impl<'de> serde::Deserialize<'de> for ExtraHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ExtraHeaders, D::Error> {
        let table = toml::Table::deserialize(deserializer)?;
        ExtraHeaders::from_toml(&table).map_err(serde::de::Error::custom)
    }
}

/// The config key of header `name`: quoted as TOML quotes a key that is not bare.
fn key_of(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if bare {
        format!("http.headers.{name}")
    } else {
        format!("http.headers.{name:?}")
    }
}

/// A header name must be a token of RFC 9110 and not one pagecrawl owns.
fn check_name(key: &str, name: &str) -> Result<(), String> {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() {
        return Err(format!("`{key}`: a header name cannot be empty"));
    }
    if let Some(bad) = name.chars().find(|&c| !is_tchar(c)) {
        return Err(format!(
            "`{key}` is not a header name: {bad:?} cannot appear in one (letters, digits and \
             !#$%&'*+-.^_`|~ only)"
        ));
    }
    let lower = name.to_ascii_lowercase();
    if let Some((_, why)) = OWNED.iter().find(|(owned, _)| *owned == lower) {
        return Err(format!("`{key}` cannot be set in the config: {why}"));
    }
    Ok(())
}

/// A header value must be visible ASCII, spaces and tabs, and not too long.
fn check_value(key: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "`{key}` must be at most {MAX_VALUE_BYTES} bytes, got {}",
            value.len()
        ));
    }
    match value
        .chars()
        .find(|&c| !(c == ' ' || c == '\t' || c.is_ascii_graphic()))
    {
        None => Ok(()),
        Some('\r' | '\n') => Err(format!(
            "`{key}` holds a line break (CR or LF), which would end the header and start \
             another: refused"
        )),
        Some(c) if c.is_control() => Err(format!(
            "`{key}` holds a control character ({:?}): refused",
            c
        )),
        Some(c) => Err(format!(
            "`{key}` holds {c:?}, which is not ASCII: servers read header bytes in differing \
             charsets; percent-encode it (as URLs and cookies usually are)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(toml_text: &str) -> Result<ExtraHeaders, String> {
        let table: toml::Table = toml::from_str(toml_text).unwrap();
        ExtraHeaders::from_toml(&table)
    }

    #[test]
    fn ordinary_headers_pass_in_order() {
        let ok = headers(
            "Accept-Language = \"zh-CN,zh;q=0.9\"\nCookie = \" bid=abc; ll=\\\"108288\\\"\t\"\n\
             Referer = \"https://book.example/\"\nX-Custom_1 = \"\"\nAuthorization = \"Bearer x.y\"",
        )
        .unwrap();
        assert_eq!(
            ok.iter().collect::<Vec<_>>(),
            [
                ("Accept-Language", "zh-CN,zh;q=0.9"),
                ("Cookie", "bid=abc; ll=\"108288\""),
                ("Referer", "https://book.example/"),
                ("X-Custom_1", ""),
                ("Authorization", "Bearer x.y"),
            ]
        );
        assert_eq!(ok.len(), 5);
        assert!(headers("").unwrap().is_empty());
    }

    #[test]
    fn injection_attempts_are_refused() {
        for (toml_text, says) in [
            (
                "Cookie = \"a=b\\r\\nHost: evil.example\"",
                "`http.headers.Cookie` holds a line break",
            ),
            (
                "Referer = \"x\\ny\"",
                "`http.headers.Referer` holds a line break",
            ),
            (
                "Referer = \"x\\u0000y\"",
                "`http.headers.Referer` holds a control character",
            ),
            ("Referer = \"x\\u007fy\"", "holds a control character"),
            ("Referer = \"x\\u0085y\"", "holds a control character"),
            (
                "X-Name = \"Zoë\"",
                "`http.headers.X-Name` holds 'ë', which is not ASCII",
            ),
            (
                "\"X-A\\r\\nHost\" = \"x\"",
                "`http.headers.\"X-A\\r\\nHost\"` is not a header name: '\\r'",
            ),
            (
                "\"X A\" = \"x\"",
                "`http.headers.\"X A\"` is not a header name: ' '",
            ),
            ("\"X-A:\" = \"x\"", "is not a header name: ':'"),
            ("\":authority\" = \"x\"", "is not a header name: ':'"),
            ("\"\" = \"x\"", "a header name cannot be empty"),
        ] {
            let err = headers(toml_text).unwrap_err();
            assert!(err.contains(says), "{toml_text}: {err}");
        }
    }

    #[test]
    fn headers_pagecrawl_owns_are_refused_with_the_reason() {
        for (name, says) in [
            ("Host", "address policy"),
            ("user-agent", "`http.user_agent`"),
            ("Accept-Encoding", "decodes them itself"),
            ("Content-Length", "frames requests"),
            ("Transfer-Encoding", "frames requests"),
            ("CONNECTION", "connections"),
            ("Range", "206"),
            ("If-None-Match", "304"),
            ("If-Modified-Since", "304"),
            ("Proxy-Authorization", "`http.proxy`"),
        ] {
            let err = headers(&format!("{name} = \"x\"")).unwrap_err();
            assert!(
                err.starts_with(&format!("`http.headers.{name}` cannot be set")),
                "{err}"
            );
            assert!(err.contains(says), "{name}: {err}");
        }
    }

    #[test]
    fn types_duplicates_and_sizes() {
        let err = headers("DNT = 1").unwrap_err();
        assert_eq!(
            err,
            "`http.headers.DNT` must be a string, got integer: write DNT = \"1\""
        );
        let err = headers("Cookie = \"a\"\ncookie = \"b\"").unwrap_err();
        assert_eq!(
            err,
            "`http.headers.cookie` is the same header as `http.headers.Cookie` (header names ignore case)"
        );
        let many: String = (0..=MAX_HEADERS)
            .map(|i| format!("X-{i} = \"v\"\n"))
            .collect();
        assert!(
            headers(&many)
                .unwrap_err()
                .contains("holds 65 headers, at most 64")
        );
        let long = format!("Cookie = \"{}\"", "a".repeat(MAX_VALUE_BYTES + 1));
        assert!(
            headers(&long)
                .unwrap_err()
                .contains("at most 8192 bytes, got 8193")
        );
        let exactly = format!("Cookie = \"{}\"", "a".repeat(MAX_VALUE_BYTES));
        assert!(headers(&exactly).is_ok());
        let heavy: String = (0..3)
            .map(|i| format!("X-{i} = \"{}\"\n", "a".repeat(MAX_VALUE_BYTES - 100)))
            .collect();
        let err = headers(&heavy).unwrap_err();
        assert!(
            err.contains("at most 16384 bytes in all; it is over that by `http.headers.X-2`"),
            "{err}"
        );
    }
}
