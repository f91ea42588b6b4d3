//! `site.url` templates: `https://site.example/top250?start={offset}`, checked so that `check`
//! refuses what would crawl the wrong pages, and rendered for each page.
//!
//! It also owns the brace syntax that file-name templates share ([`split_template`]): `{name}`
//! is a placeholder, `{{` and `}}` are literal braces, any other brace is an error. It fetches
//! nothing.

use url::Url;

/// A piece of a brace template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text, with `{{` and `}}` already turned into `{` and `}`.
    Text(String),
    /// A `{name}` placeholder: the name between the braces, as written.
    Placeholder(&'a str),
}

/// Splits a brace template into text and placeholders, or says which brace is wrong (by its
/// character position, 1 for the first character).
///
/// A literal brace is written twice, as in Rust's and Python's format strings, so that a
/// mistyped placeholder is an error instead of text sent to the server. (A URL can also hold
/// a brace percent-encoded, `%7B` and `%7D`.)
pub fn split_template(template: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    let position = |byte: usize| template[..byte].chars().count() + 1;
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.next_if(|&(_, c)| c == '{').is_some() => text.push('{'),
            '}' if chars.next_if(|&(_, c)| c == '}').is_some() => text.push('}'),
            '{' => {
                let Some(len) = template[i + 1..].find(['{', '}']) else {
                    return Err(format!(
                        "unclosed `{{` at character {} (write `{{{{` for a literal brace)",
                        position(i)
                    ));
                };
                let end = i + 1 + len;
                if template[end..].starts_with('{') {
                    return Err(format!(
                        "unclosed `{{` at character {} (write `{{{{` for a literal brace)",
                        position(i)
                    ));
                }
                let name = &template[i + 1..end];
                if name.is_empty() {
                    return Err(format!(
                        "empty placeholder `{{}}` at character {}",
                        position(i)
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Placeholder(name));
                while chars.next_if(|&(j, _)| j <= end).is_some() {}
            }
            '}' => {
                return Err(format!(
                    "`}}` without a `{{` at character {} (write `}}}}` for a literal brace)",
                    position(i)
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// The known name closest to a mistyped placeholder, if one is close: the same name in
/// another case or with spaces, two edits or fewer away, a name that contains it or that it
/// contains (`{pagenum}`), or a usual alias (`{start}` for `{offset}`).
pub fn closest<'k>(name: &str, known: &[&'k str], aliases: &[(&str, &'k str)]) -> Option<&'k str> {
    let name = name.trim().to_ascii_lowercase();
    if let Some((_, to)) = aliases.iter().find(|(alias, _)| *alias == name) {
        return Some(to);
    }
    known
        .iter()
        .map(|known| (edit_distance(&name, known), *known))
        .filter(|(distance, known)| {
            *distance <= 2 || (name.len() > 1 && (name.contains(known) || known.contains(&name)))
        })
        .min()
        .map(|(_, known)| known)
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// A part of a checked `site.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Literal text.
    Text(String),
    /// `{page}`: the page number.
    Page,
    /// `{offset}`: the page number times `site.page_size`.
    Offset,
}

/// A checked `site.url` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    /// As written in the config.
    source: String,
    /// Its parts, in order.
    parts: Vec<Part>,
}

/// The placeholders `site.url` takes.
const PLACEHOLDERS: [&str; 2] = ["page", "offset"];

/// Names people reach for, and the placeholder they mean.
const ALIASES: [(&str, &str); 6] = [
    ("start", "offset"),
    ("skip", "offset"),
    ("from", "offset"),
    ("p", "page"),
    ("n", "page"),
    ("pg", "page"),
];

impl UrlTemplate {
    /// Checks `template` (the value of `site.url`): its braces; placeholders among `{page}`
    /// and `{offset}` (a mistyped one is named, with the closest known one); an http or https
    /// URL with a host once filled in; and the placeholders in its path or query, where they
    /// change what is fetched: in the host or port each page would go to another server, in
    /// the fragment (after `#`) every page would be the same request. A template without a
    /// placeholder passes here: it is the first page of a next-link listing (`site.next`), and
    /// the rules between keys refuse it without one ([`UrlTemplate::has_placeholder`]).
    pub fn parse(template: &str) -> Result<UrlTemplate, String> {
        let pieces = split_template(template).map_err(|err| format!("`site.url`: {err}"))?;
        let mut parts = Vec::with_capacity(pieces.len());
        for piece in pieces {
            parts.push(match piece {
                Piece::Text(text) => Part::Text(text),
                Piece::Placeholder("page") => Part::Page,
                Piece::Placeholder("offset") => Part::Offset,
                Piece::Placeholder(other) => {
                    let hint = match closest(other, &PLACEHOLDERS, &ALIASES) {
                        Some(known) => format!("did you mean `{{{known}}}`? "),
                        None => String::new(),
                    };
                    return Err(format!(
                        "`site.url` has an unknown placeholder `{{{other}}}`: {hint}(only \
                         `{{page}}` and `{{offset}}` exist)"
                    ));
                }
            });
        }
        let template = UrlTemplate {
            source: template.to_string(),
            parts,
        };
        let first = template.checked_url(0)?;
        if !template.has_placeholder() {
            // A next-link listing's first page (`site.next`); `rules.rs` refuses it otherwise.
            return Ok(template);
        }
        let second = template.checked_url(1)?;
        let server = |url: &Url| {
            (
                url.host_str().map(str::to_string),
                url.port_or_known_default(),
            )
        };
        if server(&first) != server(&second) {
            return Err(format!(
                "`site.url` must have its placeholders in the path or the query, not the host or \
                 the port: every page would go to another server ({} and {})",
                first, second
            ));
        }
        if first[..url::Position::AfterQuery] == second[..url::Position::AfterQuery] {
            return Err(format!(
                "`site.url` must have its placeholders before the `#`: the fragment is not sent \
                 to the server, so every page would be the same request ({first})"
            ));
        }
        Ok(template)
    }

    /// The URL of `page` filled in with page 0 or 1 (and a page size of 1), checked.
    fn checked_url(&self, page: u64) -> Result<Url, String> {
        let sample = self.render(page, 1);
        let url = Url::parse(&sample).map_err(|err| {
            format!("`site.url` is not a valid URL once filled in ({err}): {sample:?}")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "`site.url` must start with http:// or https://: {sample:?}"
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`site.url` has no host: {sample:?}"));
        }
        Ok(url)
    }

    /// The URL of `page`, with `{offset}` = `page × page_size` (saturating).
    pub fn render(&self, page: u64, page_size: u64) -> String {
        let mut url = String::with_capacity(self.source.len() + 16);
        for part in &self.parts {
            match part {
                Part::Text(text) => url.push_str(text),
                Part::Page => url.push_str(&page.to_string()),
                Part::Offset => url.push_str(&page.saturating_mul(page_size).to_string()),
            }
        }
        url
    }

    /// Whether it has a `{page}` or `{offset}` placeholder: a numbered listing's URL has one,
    /// the first page of a next-link listing none.
    pub fn has_placeholder(&self) -> bool {
        self.parts
            .iter()
            .any(|part| matches!(part, Part::Page | Part::Offset))
    }

    /// The template as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl<'de> serde::Deserialize<'de> for UrlTemplate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UrlTemplate, D::Error> {
        let text = String::deserialize(deserializer)?;
        UrlTemplate::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for UrlTemplate {
    /// As written in the config.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_pages_and_offsets() {
        let template =
            UrlTemplate::parse("https://book.example/top250?start={offset}&p={page}").unwrap();
        assert_eq!(
            template.render(3, 25),
            "https://book.example/top250?start=75&p=3"
        );
        assert_eq!(
            template.render(u64::MAX, 25),
            format!(
                "https://book.example/top250?start={}&p={}",
                u64::MAX,
                u64::MAX
            )
        );
        assert_eq!(
            template.as_str(),
            "https://book.example/top250?start={offset}&p={page}"
        );
        let twice = UrlTemplate::parse("http://h.example/{page}/x-{page}.html").unwrap();
        assert_eq!(twice.render(7, 1), "http://h.example/7/x-7.html");
        // Doubled braces are literal braces.
        let braces = UrlTemplate::parse("http://h.example/q?f={{\"a\":{page}}}").unwrap();
        assert_eq!(braces.render(2, 1), "http://h.example/q?f={\"a\":2}");
    }

    #[test]
    fn unknown_placeholders_are_named_with_a_suggestion() {
        for (template, says) in [
            (
                "http://h.example/?p={pgae}",
                "unknown placeholder `{pgae}`: did you mean `{page}`?",
            ),
            (
                "http://h.example/?p={Page}",
                "`{Page}`: did you mean `{page}`?",
            ),
            (
                "http://h.example/?p={ page }",
                "`{ page }`: did you mean `{page}`?",
            ),
            (
                "http://h.example/?p={pagenum}",
                "`{pagenum}`: did you mean `{page}`?",
            ),
            (
                "http://h.example/?s={start}",
                "`{start}`: did you mean `{offset}`?",
            ),
            (
                "http://h.example/?s={ofset}",
                "`{ofset}`: did you mean `{offset}`?",
            ),
            (
                "http://h.example/?id={id}&p={page}",
                "unknown placeholder `{id}`: (only `{page}` and `{offset}` exist)",
            ),
        ] {
            let err = UrlTemplate::parse(template).unwrap_err();
            assert!(
                err.starts_with("`site.url` has an unknown placeholder"),
                "{err}"
            );
            assert!(err.contains(says), "{template}: {err}");
        }
    }

    #[test]
    fn what_is_refused() {
        for (template, says) in [
            (
                "http://h.example/{page",
                "`site.url`: unclosed `{` at character 18",
            ),
            (
                "http://h.example/{pa{page}}",
                "`site.url`: unclosed `{` at character 18",
            ),
            (
                "http://h.example/}{page}",
                "`site.url`: `}` without a `{` at character 18",
            ),
            (
                "http://h.example/{}{page}",
                "`site.url`: empty placeholder `{}` at character 18",
            ),
            (
                "ftp://h.example/{page}",
                "must start with http:// or https://",
            ),
            ("h.example/{page}", "not a valid URL once filled in"),
            ("http://h .example/{page}", "not a valid URL once filled in"),
            (
                "http://h.example:{page}00000/",
                "not a valid URL once filled in",
            ),
            ("http://{page}", "not the host or the port"),
            ("http:///{page}", "not the host or the port"),
            ("http://s{page}.h.example/", "not the host or the port"),
            ("http://h.example:80{page}/", "not the host or the port"),
            ("http://h.example/list#page={page}", "before the `#`"),
        ] {
            let err = UrlTemplate::parse(template).unwrap_err();
            assert!(err.contains(says), "{template}: {err}");
        }
        // A character position counts characters, not bytes.
        let err = split_template("http://ü.example/{page").unwrap_err();
        assert!(err.contains("character 18"), "{err}");
    }

    #[test]
    fn split_and_closest() {
        assert_eq!(
            split_template("a{x}b{{c}}{y}").unwrap(),
            [
                Piece::Text("a".into()),
                Piece::Placeholder("x"),
                Piece::Text("b{c}".into()),
                Piece::Placeholder("y")
            ]
        );
        assert_eq!(split_template("").unwrap(), []);
        assert_eq!(closest("tilte", &["title", "price"], &[]), Some("title"));
        assert_eq!(closest("zzz", &["title", "price"], &[]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ü", "u"), 1);
    }
}
