//! The `[extract]` table: the item selector, the engine, the per-page limits and the fields,
//! compiled into the [`Extractor`] every parser shares when the config is read, so that a
//! selector that does not parse is refused before a crawl starts. `#[serde(with)]` on
//! `Config::extract`.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serializer};

use crate::extract::{Engine, Extractor, FieldSpec, PageLimits};

/// `[extract]` as the file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractTable {
    item: String,
    #[serde(default)]
    engine: Engine,
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
    let mut fields = Vec::with_capacity(table.fields.len());
    for (name, value) in table.fields {
        let spec = FieldSpec::from_toml(&name, &value)?;
        fields.push((name, spec));
    }
    let limits = PageLimits {
        max_items: table.max_items_per_page,
        max_bytes: table.max_bytes_per_page,
    };
    Extractor::from_specs(&table.item, fields, table.engine)
        .map(|extractor| extractor.with_limits(limits))
        .map_err(|err| err.to_string())
}

/// The keys `check` prints; the fields are printed from their specs.
pub(super) fn serialize<S: Serializer>(
    extract: &Extractor,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let limits = extract.limits();
    let mut table = serializer.serialize_struct("extract", 4)?;
    table.serialize_field("item", extract.item_selector())?;
    table.serialize_field("engine", &extract.engine())?;
    table.serialize_field("max_items_per_page", &limits.max_items)?;
    table.serialize_field("max_bytes_per_page", &limits.max_bytes)?;
    table.end()
}
