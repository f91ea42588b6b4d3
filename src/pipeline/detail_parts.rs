//! A detail page in several parts (`follow.next`): a gallery whose part 2 is `/gallery/ID/2`,
//! a long article's page 2. [`walk`] reads the first part, then each part's next link, one
//! after the other (a part's next link is only known once the part before it is parsed), and
//! gathers the detail fields over them: a field with `all = true` collects the matches of every
//! part in order, any other keeps the first part's value.
//!
//! The walk is bounded three ways, each a normal end rather than a failure: a next link to a
//! part already read (a loop, `A → B → A`, or a last part that links back to the first),
//! `follow.max_pages` parts read, or a next link the host rules refuse (`follow.hosts`,
//! robots.txt). A part that fails after its retries fails the walk, and so the list page: an
//! item is never written with half a gallery.
//!
//! How a part is fetched and read is the caller's (the detail crawlers, `pagecrawl try`), so
//! this file holds only the walk and its bookkeeping, and is tested without a server.

use std::collections::HashSet;
use std::sync::Arc;

use url::Url;

use super::stage::{file_link, first_link, resolve_link};
use crate::config::DetailParts;
use crate::extract::{Item, Value};

/// A detail page's fields over its parts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Walked {
    /// The detail fields: the first part's, with every `all = true` field's matches of the
    /// later parts appended in order.
    pub fields: Item,
    /// With a tracked field (`download.referer` on a detail field): for each of its file links
    /// in order (as [`super::stage::urls_of`] lists them), the URL of the part it was found on.
    pub found_on: Vec<Arc<str>>,
    /// The parts read, the first included.
    pub parts: usize,
    /// Why the walk ended.
    pub end: PartsEnd,
}

/// Why a walk over a detail page's parts ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PartsEnd {
    /// The last part has no next link.
    Last,
    /// The next link leads to a part already read: a loop, ended there.
    Loop(Url),
    /// `follow.max_pages` parts were read; the next link is left unread.
    Capped(Url),
    /// The host rules refuse the next link (the caller has warned of it).
    Refused(Url),
}

/// Reads the detail page at `first` and its later parts. `read` fetches and extracts one
/// part: its values by [`DetailParts::extract`] (the detail fields, then the next link) and the
/// URL they came from after redirects, which the next link resolves against. `allowed` applies
/// the host rules to a next link. `track` is the position of a detail field whose file links'
/// parts are wanted (for `download.referer`).
pub(crate) fn walk<E>(
    parts: &DetailParts,
    track: Option<usize>,
    first: &Url,
    mut read: impl FnMut(&Url) -> Result<(Item, Url), E>,
    mut allowed: impl FnMut(&Url) -> Result<bool, E>,
) -> Result<Walked, E> {
    let mut visited = HashSet::new();
    let mut walked = Walked {
        fields: Vec::new(),
        found_on: Vec::new(),
        parts: 0,
        end: PartsEnd::Last,
    };
    let mut url = first.clone();
    loop {
        visited.insert(without_fragment(&url));
        let (mut values, at) = read(&url)?;
        // A redirect lands on a part too: a link back to it is a loop as well.
        visited.insert(without_fragment(&at));
        // No fragment: it is not sent, and `2#top` is part 2.
        let next = values
            .pop()
            .and_then(|link| first_link(Some(&link)).and_then(|link| resolve_link(Some(&at), link)))
            .map(|next| without_fragment(&next));
        walked.add(parts, track, values, &at);
        let Some(next) = next else {
            walked.end = PartsEnd::Last;
            return Ok(walked);
        };
        if visited.contains(&next) {
            walked.end = PartsEnd::Loop(next);
            return Ok(walked);
        }
        if walked.parts >= parts.max_pages.get() {
            walked.end = PartsEnd::Capped(next);
            return Ok(walked);
        }
        if !allowed(&next)? {
            walked.end = PartsEnd::Refused(next);
            return Ok(walked);
        }
        url = next;
    }
}

impl Walked {
    /// Adds one part's detail fields, read at `at`.
    fn add(&mut self, parts: &DetailParts, track: Option<usize>, values: Item, at: &Url) {
        let first = self.parts == 0;
        self.parts += 1;
        let at: Arc<str> = Arc::from(at.as_str());
        if let Some(tracked) = track.and_then(|i| values.get(i)) {
            let links = match tracked {
                Value::List(values) => values.iter().filter(|v| file_link(v).is_some()).count(),
                value => usize::from(file_link(value).is_some()),
            };
            // A field that keeps the first part's value has only the first part's links.
            if first || parts.all.get(track.unwrap_or_default()) == Some(&true) {
                self.found_on.extend(std::iter::repeat_n(at, links));
            }
        }
        if first {
            self.fields = values;
            return;
        }
        for ((field, value), all) in self.fields.iter_mut().zip(values).zip(&parts.all) {
            if *all {
                append(field, value);
            }
        }
    }
}

/// Appends the matches `more` (a list, or one value) to the list `field`.
fn append(field: &mut Value, more: Value) {
    let more = match more {
        Value::List(values) => values,
        Value::Null => Vec::new(),
        value => vec![value],
    };
    match field {
        Value::List(values) => values.extend(more),
        Value::Null => *field = Value::List(more),
        other => {
            let mut values = vec![std::mem::replace(other, Value::Null)];
            values.extend(more);
            *other = Value::List(values);
        }
    }
}

/// A part's URL as the walk asks for it and compares it: without its fragment.
fn without_fragment(url: &Url) -> Url {
    let mut url = url.clone();
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::num::NonZeroUsize;

    use super::*;
    use crate::config::Config;

    /// The `[follow]` parts of a config with `next` and `max_pages`, fields `title` (first
    /// part) and `images` (every part).
    fn parts(max_pages: usize) -> DetailParts {
        let text = format!(
            "[site]\nurl = \"http://127.0.0.1:1/?p={{page}}\"\n[extract]\nitem = \"li\"\n\
             [extract.fields]\nlink = \"a@href\"\n[follow]\nfield = \"link\"\n\
             next = \"a.next@href\"\nmax_pages = {max_pages}\n[follow.fields]\ntitle = \"h1\"\n\
             images = {{ css = \"img\", attr = \"src\", all = true }}\n\
             [output]\npath = \"out.jsonl\"\n"
        );
        Config::from_toml(&text)
            .unwrap()
            .follow
            .unwrap()
            .parts
            .unwrap()
    }

    /// A site of parts: URL → (title, images, next link).
    type Site = HashMap<&'static str, (&'static str, Vec<&'static str>, Option<&'static str>)>;

    /// Walks `site` from `first`, every link allowed but those containing "elsewhere".
    fn walk_site(site: &Site, parts: &DetailParts, first: &str) -> (Walked, Vec<String>) {
        let mut asked = Vec::new();
        let walked = walk::<()>(
            parts,
            Some(1),
            &Url::parse(first).unwrap(),
            |url| {
                asked.push(url.to_string());
                let (title, images, next) = site.get(url.as_str()).ok_or(())?;
                let text = |s: &str| Value::String(s.to_string());
                let images = Value::List(images.iter().map(|s| text(s)).collect());
                let next = next.map_or(Value::Null, text);
                Ok((vec![text(title), images, next], url.clone()))
            },
            |url| Ok(!url.as_str().contains("elsewhere")),
        )
        .unwrap();
        (walked, asked)
    }

    fn list(values: &[&str]) -> Value {
        Value::List(
            values
                .iter()
                .map(|s| Value::String(s.to_string()))
                .collect(),
        )
    }

    #[test]
    fn every_part_adds_its_matches_to_all_fields_only() {
        let site: Site = HashMap::from([
            ("http://g/1/", ("One", vec!["a.png"], Some("2"))),
            (
                "http://g/1/2",
                ("Two", vec!["b.png", "c.png"], Some("3#top")),
            ),
            ("http://g/1/3", ("Three", vec!["d.png"], None)),
        ]);
        let (walked, asked) = walk_site(&site, &parts(100), "http://g/1/");
        assert_eq!(asked, ["http://g/1/", "http://g/1/2", "http://g/1/3"]);
        assert_eq!(walked.fields[0], Value::String("One".into()));
        assert_eq!(
            walked.fields[1],
            list(&["a.png", "b.png", "c.png", "d.png"])
        );
        assert_eq!(walked.parts, 3);
        assert_eq!(walked.end, PartsEnd::Last);
        let found: Vec<&str> = walked.found_on.iter().map(|s| &**s).collect();
        assert_eq!(
            found,
            [
                "http://g/1/",
                "http://g/1/2",
                "http://g/1/2",
                "http://g/1/3"
            ]
        );
    }

    #[test]
    fn a_link_back_to_a_part_read_ends_the_walk() {
        let site: Site = HashMap::from([
            ("http://g/1/", ("One", vec!["a.png"], Some("2"))),
            ("http://g/1/2", ("Two", vec!["b.png"], Some("./#again"))),
        ]);
        let (walked, asked) = walk_site(&site, &parts(100), "http://g/1/");
        assert_eq!(asked.len(), 2);
        assert_eq!(walked.fields[1], list(&["a.png", "b.png"]));
        assert_eq!(
            walked.end,
            PartsEnd::Loop(Url::parse("http://g/1/").unwrap())
        );
        // A part that links to itself.
        let site: Site = HashMap::from([("http://g/1/", ("One", vec![], Some("")))]);
        let (walked, asked) = walk_site(&site, &parts(100), "http://g/1/");
        assert_eq!((asked.len(), walked.parts), (1, 1));
        assert!(matches!(walked.end, PartsEnd::Loop(_)));
    }

    #[test]
    fn max_pages_and_refused_hosts_end_the_walk_where_they_stand() {
        let site: Site = HashMap::from([
            ("http://g/1/", ("One", vec!["a.png"], Some("2"))),
            ("http://g/1/2", ("Two", vec!["b.png"], Some("3"))),
            (
                "http://g/1/3",
                ("Three", vec!["c.png"], Some("http://elsewhere/4")),
            ),
        ]);
        let (walked, asked) = walk_site(&site, &parts(2), "http://g/1/");
        assert_eq!(asked.len(), 2);
        assert_eq!(walked.fields[1], list(&["a.png", "b.png"]));
        assert_eq!(
            walked.end,
            PartsEnd::Capped(Url::parse("http://g/1/3").unwrap())
        );
        let (walked, asked) = walk_site(&site, &parts(100), "http://g/1/");
        assert_eq!(asked.len(), 3);
        assert_eq!(
            walked.end,
            PartsEnd::Refused(Url::parse("http://elsewhere/4").unwrap())
        );
        assert_eq!(walked.found_on.len(), 3);
    }

    #[test]
    fn a_part_that_fails_fails_the_walk() {
        let site: Site = HashMap::from([("http://g/1/", ("One", vec![], Some("2")))]);
        let parts = parts(100);
        let result = walk::<()>(
            &parts,
            None,
            &Url::parse("http://g/1/").unwrap(),
            |url| {
                let (title, _, next) = site.get(url.as_str()).ok_or(())?;
                let next = next.map_or(Value::Null, |n| Value::String(n.to_string()));
                Ok((
                    vec![Value::String(title.to_string()), list(&[]), next],
                    url.clone(),
                ))
            },
            |_| Ok(true),
        );
        assert_eq!(result, Err(()));
        assert_eq!(parts.max_pages, NonZeroUsize::new(100).unwrap());
    }

    #[test]
    fn appending_keeps_every_match_in_order() {
        let mut field = Value::Null;
        append(&mut field, list(&["a"]));
        append(&mut field, Value::Null);
        append(&mut field, Value::String("b".into()));
        assert_eq!(field, list(&["a", "b"]));
        let mut one = Value::String("x".into());
        append(&mut one, list(&["y"]));
        assert_eq!(one, list(&["x", "y"]));
    }
}
