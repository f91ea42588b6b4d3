//! The `[extract]` table: the item selector, the engine, the per-page limits and the fields,
//! compiled into the [`Extractor`] every parser shares when the config is read, so that a
//! selector that does not parse is refused before a crawl starts. `#[serde(with)]` on
//! `Config::extract`.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serializer};

use crate::extract::json::json_field;
use crate::extract::{Engine, Extractor, FieldSpec, Format, PageLimits};

/// `[extract]` as the file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractTable {
    #[serde(default)]
    format: Format,
    item: String,
    engine: Option<Engine>,
    #[serde(default = "default_max_items")]
    max_items_per_page: usize,
    #[serde(default = "default_max_bytes")]
    max_bytes_per_page: usize,
    fields: toml::Table,
}

fn default_max_items() -> usize {
    PageLimits::default().max_items
}

fn default_max_bytes() -> usize {
    PageLimits::default().max_bytes
}

/// Reads `[extract]` and compiles it.
pub(super) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Extractor, D::Error> {
    let table = ExtractTable::deserialize(deserializer)?;
    compile(table).map_err(serde::de::Error::custom)
}

fn compile(table: ExtractTable) -> Result<Extractor, String> {
    let limits = PageLimits {
        max_items: table.max_items_per_page,
        max_bytes: table.max_bytes_per_page,
    };
    compile_fields(
        "extract",
        table.format,
        &table.item,
        table.engine,
        table.fields,
    )
    .map(|extractor| extractor.with_limits(limits))
}

/// The extractor of a table of fields (`extract`, `follow`) of pages in `format`, items
/// selected by `item` (a CSS selector, or a JSONPath); errors name the table's keys.
pub(super) fn compile_fields(
    table: &str,
    format: Format,
    item: &str,
    engine: Option<Engine>,
    fields: toml::Table,
) -> Result<Extractor, String> {
    let key = format!("{table}.fields");
    let mut specs = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let spec = match format {
            Format::Html => FieldSpec::from_toml_in(&key, &name, &value)?,
            Format::Json => json_field(&format!("{key}.{name}"), &value)?,
        };
        specs.push((name, spec));
    }
    // The extractor's own errors name `extract.`; the table's are what the file says.
    let named = |err: anyhow::Error| err.to_string().replace("extract.", &format!("{table}."));
    match (format, engine) {
        (Format::Html, engine) => {
            Extractor::from_specs(item, specs, engine.unwrap_or_default()).map_err(named)
        }
        (Format::Json, None) => Extractor::from_json_specs(item, specs).map_err(named),
        (Format::Json, Some(_)) => Err(format!(
            "`{table}.engine` chooses how HTML is parsed; with `{table}.format = \"json\"` \
             leave it out"
        )),
    }
}

/// The keys `check` prints; the fields are printed from their specs.
pub(super) fn serialize<S: Serializer>(
    extract: &Extractor,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let limits = extract.limits();
    let mut table = serializer.serialize_struct("extract", 5)?;
    let format = if extract.is_json() {
        Format::Json
    } else {
        Format::Html
    };
    table.serialize_field("format", &format)?;
    table.serialize_field("item", extract.item_selector())?;
    if !extract.is_json() {
        table.serialize_field("engine", &extract.engine())?;
    }
    table.serialize_field("max_items_per_page", &limits.max_items)?;
    table.serialize_field("max_bytes_per_page", &limits.max_bytes)?;
    table.end()
}
