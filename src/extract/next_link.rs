//! `site.next`: the link from each page of a listing to the page after it, on HTML
//! (`"a[rel=next]@href"`) or JSON (`"$.next"`) pages.
//!
//! It is a field of the whole page (item selector `html`, or `$` on JSON) in the short form of
//! the page's format, read in a pass of its own over the body. Read as a URL it is resolved
//! against the page's URL (after redirects) and its `<base href>`, as link fields are; read as a
//! cursor (with `site.next_url`) it is the value's text, a JSON number's digits included.

use anyhow::{Result, anyhow};
use url::Url;

use super::field_spec::{FieldSpec, Kind};
use super::json::json_field;
use super::limits::{OverLimit, PageLimits};
use super::values::Value;
use super::{Engine, Extractor};

/// The name the next link has as the one field of its extractor: not a name a config can give
/// a field, so that errors about it are renamed to its key.
const NAME: &str = "site.next";

/// How a page names the page after it.
#[derive(Debug, Clone)]
pub struct NextLink {
    /// `site.next` as written.
    written: String,
    /// The next link as the one field of the whole page.
    extract: Extractor,
}

impl NextLink {
    /// The next link `written` (the value of `site.next`) on JSON pages or HTML ones (read by
    /// `engine`), taken as a URL or, with `cursor`, as the value a `site.next_url` template
    /// takes. An error names the key and says what is wrong.
    pub fn new(written: &str, json: bool, cursor: bool, engine: Engine) -> Result<NextLink> {
        let value = toml::Value::String(written.to_string());
        // The extractor names its fields `extract.fields.<name>`: this one is `site.next`.
        let rename = |err: String| anyhow!(err.replace("extract.fields.site.next", NAME));
        let extract = if json {
            let mut spec = json_field(NAME, &value).map_err(rename)?;
            if !cursor {
                // A JSON value keeps its type unless one is given: a link is a URL.
                spec.kind = Kind::Url;
                spec.typed = true;
            }
            Extractor::from_json_specs("$", vec![(NAME.to_string(), spec)])
        } else {
            let mut spec = FieldSpec::from_toml_in("site", "next", &value).map_err(rename)?;
            if spec.attr.is_none() && !cursor {
                return Err(anyhow!(
                    "`site.next` = {written:?} takes the link's text; name the attribute that \
                     holds the next page's URL, as \"{}@href\" (or set `site.next_url` if the \
                     text is a cursor)",
                    spec.css.as_deref().unwrap_or("a[rel=next]")
                ));
            }
            spec.kind = if cursor { Kind::String } else { Kind::Url };
            Extractor::from_specs("html", vec![(NAME.to_string(), spec)], engine)
        }
        .map_err(|err| rename(err.to_string()))?;
        Ok(NextLink {
            written: written.to_string(),
            extract,
        })
    }

    /// The same, with a page's limits (`extract.max_bytes_per_page` …).
    pub fn with_limits(mut self, limits: PageLimits) -> NextLink {
        self.extract = self.extract.with_limits(limits);
        self
    }

    /// `site.next` as written.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// What the page `body` (fetched from `final_url`) names as the page after it: a URL, or
    /// the cursor's text; `None` when it names none (no match, an empty or null value). The
    /// parse stage catches a panic of the HTML parser around it, as around the items.
    pub fn find(&self, body: &str, final_url: &Url) -> Result<Option<String>, OverLimit> {
        let (extracted, _) = self.extract.extract_values(body, final_url);
        let mut extracted = extracted?;
        let value = extracted
            .items
            .pop()
            .and_then(|mut item| item.pop())
            .unwrap_or(Value::Null);
        let text = match &value {
            Value::List(values) => values.first().and_then(Value::key_text),
            value => value.key_text(),
        };
        Ok(text
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn an_html_next_link_is_resolved_against_its_page() {
        let next = NextLink::new("a[rel=next]@href", false, false, Engine::default()).unwrap();
        let page = "<ul><li>a</li></ul><p><a rel=next href='?after=x%2By'>Next</a>";
        assert_eq!(
            next.find(page, &url("http://h.example/list")).unwrap(),
            Some("http://h.example/list?after=x%2By".to_string())
        );
        // Broken markup, no <html>, and a <base href>: as a browser reads it.
        let page = "<base href='http://cdn.example/x/'><div><a rel=next href=p2>n</a";
        assert_eq!(
            next.find(page, &url("http://h.example/")).unwrap(),
            Some("http://cdn.example/x/p2".to_string())
        );
        assert_eq!(
            next.find("<p>last</p>", &url("http://h.example/")).unwrap(),
            None
        );
        // An empty link is the page itself, as in a browser: the chain sees a loop.
        assert_eq!(
            next.find("<a rel=next href=''>n</a>", &url("http://h.example/"))
                .unwrap(),
            Some("http://h.example/".to_string())
        );
    }

    #[test]
    fn a_cursor_is_the_value_s_text() {
        let next = NextLink::new("$.cursor", true, true, Engine::default()).unwrap();
        let base = url("http://h.example/api");
        assert_eq!(
            next.find(r#"{"cursor":"a+b/c=="}"#, &base).unwrap(),
            Some("a+b/c==".to_string())
        );
        assert_eq!(
            next.find(r#"{"cursor":40}"#, &base).unwrap(),
            Some("40".to_string())
        );
        assert_eq!(next.find(r#"{"cursor":null}"#, &base).unwrap(), None);
        assert_eq!(next.find(r#"{"items":[]}"#, &base).unwrap(), None);
        let link = NextLink::new("$.links.next", true, false, Engine::default()).unwrap();
        assert_eq!(
            link.find(r#"{"links":{"next":"/api?page=2"}}"#, &base)
                .unwrap(),
            Some("http://h.example/api?page=2".to_string())
        );
        let text = NextLink::new("span.cursor", false, true, Engine::default()).unwrap();
        assert_eq!(
            text.find("<span class=cursor> tok </span>", &base).unwrap(),
            Some("tok".to_string())
        );
    }

    #[test]
    fn what_is_refused_names_the_key() {
        let err = NextLink::new("a.next", false, false, Engine::default()).unwrap_err();
        assert!(
            err.to_string()
                .contains("`site.next` = \"a.next\" takes the link's text")
        );
        let err = NextLink::new("a[[x@href", false, false, Engine::default()).unwrap_err();
        assert!(err.to_string().contains("`site.next`"), "{err}");
        let err = NextLink::new("$.next[", true, false, Engine::default()).unwrap_err();
        assert!(err.to_string().contains("`site.next`"), "{err}");
    }
}
