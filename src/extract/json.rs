//! JSON pages (`extract.format = "json"`, `follow.format = "json"`): the items of an API's
//! answer, found with JSONPath (RFC 9535, through `serde_json_path`).
//!
//! `extract.item` selects the items (`"$.items[*]"`); each field is a JSONPath run on one item,
//! `$` being the item (`"$.price.amount"`). A field's first match is its value (every match, as
//! a list, with `all = true`). A JSON string stays a string, a number a number, `true` and
//! `false` booleans, and an object or array selected as one value is written as it is (its keys
//! in the page's order). `re` and `type` apply as on HTML: to a string's text, or to a number's
//! digits; `type = "url"` resolves a string against the page's URL.
//!
//! A page that is not JSON fails with serde_json's one-line reason, which names the line and
//! column. Nesting is bounded by serde_json's recursion limit (128 levels: `[[[[…` past it is
//! refused, never a stack overflow), and a page's size by `http.max_body_bytes`; the per-page
//! limits of HTML pages (`extract.max_items_per_page`, `max_bytes_per_page`) hold too.

use anyhow::{Result, anyhow};
use serde_json_path::JsonPath;
use url::Url;

use super::field_spec::{FieldSpec, FieldTable, Kind, MAX_PART_BYTES, compile_re};
use super::limits::{OverLimit, PageLimits};
use super::scraped::Extracted;
use super::selector_check::check_selector;
use super::values::{Converter, Value};
use super::{Engine, Extractor, RESERVED_FIELDS};

/// The keys a JSON field's table may hold.
const TABLE_KEYS: [&str; 4] = ["path", "all", "re", "type"];

/// A field of a JSON page from its TOML value at `key`: a JSONPath (`"$.name"`), or a table
/// `{ path, all, re, type }`. The path is checked by [`JsonPlan::new`].
pub(crate) fn json_field(key: &str, value: &toml::Value) -> Result<FieldSpec, String> {
    let (path, all, re, kind, short) = match value {
        toml::Value::String(path) => (path.clone(), false, None, None, true),
        toml::Value::Table(table) => {
            let parts = FieldTable { key, table };
            parts.refuse_unknown(
                &TABLE_KEYS,
                "a JSON field's table takes path, all, re and type",
            )?;
            let text = |part: &str| Ok::<_, String>(parts.text(part)?.map(str::to_string));
            let all = parts.flag("all")?;
            let Some(path) = text("path")? else {
                return Err(format!(
                    "`{key}` needs `path`, the JSONPath of its value in the item (\"$.name\")"
                ));
            };
            (path, all, text("re")?, text("type")?, false)
        }
        other => {
            return Err(format!(
                "`{key}` must be a JSONPath such as \"$.name\" or a table such as \
                 {{ path = \"$.tags[*]\", all = true }}, got {}",
                other.type_str()
            ));
        }
    };
    for (part, text) in [("path", Some(&path)), ("re", re.as_ref())] {
        if let Some(text) = text
            && text.len() > MAX_PART_BYTES
        {
            return Err(format!(
                "`{key}`: `{part}` must be at most {MAX_PART_BYTES} bytes, got {}",
                text.len()
            ));
        }
    }
    let kind_of = match kind.as_deref() {
        None | Some("string") => Kind::String,
        Some("number") => Kind::Number,
        Some("integer") => Kind::Integer,
        Some("url") => Kind::Url,
        Some(other) => {
            return Err(format!(
                "`{key}.type` must be \"string\", \"number\", \"integer\" or \"url\", got {other:?}"
            ));
        }
    };
    let source = match value {
        toml::Value::String(path) => path.clone(),
        toml::Value::Table(table) => {
            let parts: Vec<String> = TABLE_KEYS
                .iter()
                .filter_map(|k| Some(format!("{k} = {}", table.get(*k)?)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        _ => unreachable!("refused above"),
    };
    Ok(FieldSpec {
        css: None,
        attr: None,
        all,
        raw_text: false,
        re: re.map(|re| compile_re(key, &re)).transpose()?,
        kind: kind_of,
        source,
        short,
        path: Some(path),
        typed: kind.is_some(),
    })
}

impl Extractor {
    /// The same extractor reading `site.has_next` (`path`) on every page too; an error, naming
    /// the key, when the path does not parse or the pages are not JSON.
    pub fn with_has_next(mut self, path: &str) -> Result<Extractor, String> {
        let Some(json) = &mut self.json else {
            return Err(
                "`site.has_next` is a JSONPath on a JSON page: it needs `extract.format = \"json\"`"
                    .to_string(),
            );
        };
        json.has_next = Some(parse_path("site.has_next", path)?);
        Ok(self)
    }

    /// The extractor of JSON pages: `item` the JSONPath of the items, `fields` read by
    /// [`json_field`], in output order.
    pub fn from_json_specs(item: &str, fields: Vec<(String, FieldSpec)>) -> Result<Extractor> {
        if fields.is_empty() {
            return Err(anyhow!("`[extract.fields]` must name at least one field"));
        }
        if let Some((name, _)) = fields
            .iter()
            .find(|(name, _)| RESERVED_FIELDS.contains(&name.as_str()))
        {
            return Err(anyhow!(
                "`extract.fields.{name}`: the name {name:?} is reserved (every item already has \
                 \"page\" and \"url\")"
            ));
        }
        let json = JsonPlan::new(item, &fields).map_err(|err| anyhow!(err))?;
        let (names, specs) = fields.into_iter().unzip();
        Ok(Extractor {
            item_source: item.to_string(),
            // Never run: the JSON plan reads the page. The document root, which is valid.
            item: check_selector("html").expect("`html` is a selector"),
            fields: Vec::new(),
            names,
            specs,
            engine: Engine::Stream,
            stream: None,
            no_stream: None,
            limits: PageLimits::default(),
            json: Some(json),
        })
    }
}

/// The compiled JSONPaths of a JSON extractor: the items', and each field's in config order.
#[derive(Debug, Clone)]
pub(crate) struct JsonPlan {
    /// What selects the items.
    item: JsonPath,
    /// Each field's path, run on one item.
    fields: Vec<JsonPath>,
    /// `site.has_next`: the path of the page's "another page follows" flag.
    has_next: Option<JsonPath>,
}

/// A JSONPath from the config at `key`, or why it does not parse (with where).
pub(crate) fn parse_path(key: &str, path: &str) -> Result<JsonPath, String> {
    if !path.trim_start().starts_with('$') {
        return Err(format!(
            "`{key}` = {path:?} is not a JSONPath: it starts with `$` (the page for \
             `extract.item`, the item for a field), as \"$.items[*]\" or \"$.name\""
        ));
    }
    JsonPath::parse(path)
        .map_err(|err| format!("`{key}` = {path:?} is not a JSONPath (RFC 9535): {err}"))
}

impl JsonPlan {
    /// The plan of `item` and `fields` (each the JSONPath a field's spec holds), or the first
    /// error, naming its key.
    pub fn new(item: &str, fields: &[(String, FieldSpec)]) -> Result<JsonPlan, String> {
        let item = parse_path("extract.item", item)?;
        let fields = fields
            .iter()
            .map(|(name, spec)| {
                let path = spec.path.as_deref().unwrap_or("$");
                parse_path(&format!("extract.fields.{name}"), path)
            })
            .collect::<Result<_, _>>()?;
        Ok(JsonPlan {
            item,
            fields,
            has_next: None,
        })
    }

    /// The items of the JSON page `body`, their fields converted by `specs` against
    /// `final_url`, within `limits`.
    pub fn extract(
        &self,
        body: &str,
        specs: &[FieldSpec],
        final_url: &Url,
        limits: PageLimits,
    ) -> Result<Extracted, OverLimit> {
        let page: serde_json::Value = serde_json::from_str(body)
            .map_err(|err| OverLimit::NotJson(format!("the page is not JSON: {err}")))?;
        let found = self.item.query(&page).all();
        if found.len() > limits.max_items {
            return Err(OverLimit::Items(limits.max_items));
        }
        let mut converter = Converter::new(final_url);
        let mut bytes = 0;
        let mut items = Vec::with_capacity(found.len());
        for item in found {
            let mut values = Vec::with_capacity(specs.len());
            for (path, spec) in self.fields.iter().zip(specs) {
                let matches = path.query(item).all();
                let value = match spec.all {
                    true => Value::List(
                        matches
                            .into_iter()
                            .filter_map(|m| convert(&mut converter, spec, m))
                            .collect(),
                    ),
                    false => matches
                        .first()
                        .and_then(|m| convert(&mut converter, spec, m))
                        .unwrap_or(Value::Null),
                };
                bytes += value.heap_bytes();
                values.push(value);
            }
            if bytes > limits.max_bytes {
                return Err(OverLimit::Bytes(limits.max_bytes));
            }
            items.push(values);
        }
        let has_next = self
            .has_next
            .as_ref()
            .and_then(|path| match path.query(&page).first() {
                Some(serde_json::Value::Bool(more)) => Some(*more),
                _ => None,
            });
        Ok(Extracted {
            items,
            unconverted: converter.unconverted,
            has_next,
        })
    }
}

/// One JSON match as a field's value: as it is without `re` and `type`; else a string's text
/// (or a number's digits) through them. `None` when `re` does not match or the value does not
/// convert (counted), so that a list leaves it out and a single value is null.
fn convert(
    converter: &mut Converter<'_>,
    spec: &FieldSpec,
    found: &serde_json::Value,
) -> Option<Value> {
    use serde_json::Value as Json;
    if spec.re.is_none() && !spec.typed {
        return Some(as_is(found));
    }
    let text = match found {
        Json::String(text) => text.clone(),
        Json::Number(number) => number.to_string(),
        Json::Bool(flag) => flag.to_string(),
        // An object, an array or null has no text to convert.
        Json::Null => return None,
        Json::Array(_) | Json::Object(_) => {
            converter.unconverted += 1;
            return None;
        }
    };
    // As the HTML engines do: one raw string through the field's `re` and `type`.
    let one = FieldSpec {
        all: false,
        kind: if spec.typed { spec.kind } else { Kind::String },
        ..spec.clone()
    };
    match converter.value(&one, &[text]) {
        Value::Null => None,
        value => Some(value),
    }
}

/// A JSON value as an output value, as it is: objects keep their keys in order.
pub(crate) fn as_is(found: &serde_json::Value) -> Value {
    use serde_json::Value as Json;
    match found {
        Json::Null => Value::Null,
        Json::Bool(flag) => Value::Bool(*flag),
        Json::Number(number) => match number.as_i64() {
            Some(n) => Value::Integer(n),
            None => Value::Number(number.to_string()),
        },
        Json::String(text) => Value::String(text.clone()),
        Json::Array(values) => Value::List(values.iter().map(as_is).collect()),
        Json::Object(members) => Value::Object(
            members
                .iter()
                .map(|(name, value)| (name.clone(), as_is(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The extractor of `item` and `fields` (TOML values, by name).
    fn extractor(item: &str, fields: &[(&str, &str)]) -> Extractor {
        let specs = fields
            .iter()
            .map(|(name, value)| {
                let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
                    .unwrap()
                    .remove("v")
                    .unwrap();
                (name.to_string(), json_field(name, &value).unwrap())
            })
            .collect();
        Extractor::from_json_specs(item, specs).unwrap()
    }

    fn values(extractor: &Extractor, body: &str) -> (Vec<Vec<String>>, u64) {
        let url = Url::parse("https://api.example/v1/items?page=2").unwrap();
        let extracted = extractor.extract_values(body, &url).0.unwrap();
        let items = extracted
            .items
            .iter()
            .map(|item| item.iter().map(Value::to_json).collect())
            .collect();
        (items, extracted.unconverted)
    }

    #[test]
    fn values_keep_their_json_types_unless_a_type_or_re_is_given() {
        let ex = extractor(
            "$.data.items[*]",
            &[
                ("name", "\"$.name\""),
                ("price", "\"$.price\""),
                ("stock", "\"$.in_stock\""),
                ("meta", "\"$.meta\""),
                ("tags", "{ path = \"$.tags[*]\", all = true }"),
                ("link", "{ path = \"$.href\", type = \"url\" }"),
                (
                    "cents",
                    "{ path = \"$.price\", re = '\\.(\\d+)', type = \"integer\" }",
                ),
                ("id", "{ path = \"$.id\", type = \"integer\" }"),
                ("missing", "\"$.nope\""),
            ],
        );
        let body = r#"{"data": {"items": [
            {"name": "A", "price": 47.01, "in_stock": true, "meta": {"z": 1, "a": [2, null]},
             "tags": ["x", "y"], "href": "../b/1", "id": "0042"},
            {"name": 7, "price": "n/a", "in_stock": false, "meta": null, "tags": [], "href": "/2",
             "id": [1]}
        ]}}"#;
        let (items, unconverted) = values(&ex, body);
        assert_eq!(
            items[0],
            [
                "\"A\"",
                "47.01",
                "true",
                "{\"z\":1,\"a\":[2,null]}",
                "[\"x\",\"y\"]",
                "\"https://api.example/b/1\"",
                "1",
                "42"
            ]
            .into_iter()
            .chain(["null"])
            .collect::<Vec<_>>()
        );
        // A number stays a number, a string a string; "n/a" has no cents, an array no integer.
        assert_eq!(items[1][..3], ["7", "\"n/a\"", "false"]);
        assert_eq!(items[1][6], "null");
        assert_eq!(items[1][7], "null");
        assert_eq!(unconverted, 1, "the array given type = \"integer\"");
    }

    #[test]
    fn bad_pages_and_bad_paths_say_where() {
        let ex = extractor("$.items[*]", &[("name", "\"$.name\"")]);
        let url = Url::parse("https://api.example/").unwrap();
        let err = ex.extract_values("{\"items\": [1,]}", &url).0.unwrap_err();
        assert_eq!(
            err.to_string(),
            "the page is not JSON: trailing comma at line 1 column 14"
        );
        let err = ex.extract_values(&"[".repeat(10_000), &url).0.unwrap_err();
        assert!(
            err.to_string().contains("recursion limit exceeded"),
            "{err}"
        );
        let err = parse_path("extract.item", "$.items[?@.price >]").unwrap_err();
        assert!(
            err.starts_with(
                "`extract.item` = \"$.items[?@.price >]\" is not a JSONPath (RFC 9535): at position"
            ),
            "{err}"
        );
        let key = toml::Value::String("$.a".into());
        assert!(json_field("extract.fields.a", &key).is_ok());
        for (value, says) in [
            ("{ css = \"a\" }", "unknown key `css`"),
            ("{ all = true }", "needs `path`"),
            (
                "{ path = \"$.a\", type = \"date\" }",
                "`extract.fields.a.type` must be",
            ),
            ("3", "must be a JSONPath such as"),
        ] {
            let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
                .unwrap()
                .remove("v")
                .unwrap();
            let err = json_field("extract.fields.a", &value).unwrap_err();
            assert!(err.contains(says), "{value}: {err}");
        }
    }
}
