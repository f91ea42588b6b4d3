//! The reference table of `docs/configuration.md`, made from the key table (`keys.rs`): every
//! key with its default, its bounds and what it means. A test holds the page to it, so the docs
//! and the code cannot disagree; `PAGECRAWL_BLESS=1 cargo test --lib config::docs` writes the
//! table into the page after a key changes.

use std::fmt::Write as _;

use super::keys::{self, Bound, Measure};

/// The line before the table in `docs/configuration.md`.
pub const BEGIN: &str = "<!-- keys:begin -->";
/// The line after it.
pub const END: &str = "<!-- keys:end -->";

/// The table, in Markdown: one row per key, in the order `check` prints them.
pub fn reference_table() -> String {
    let mut out = String::from("| key | default | bounds | meaning |\n| --- | --- | --- | --- |\n");
    for key in keys::ALL {
        let name = match key.path.strip_suffix(".*") {
            Some(table) => format!("{table}.<name>"),
            None => key.path.to_string(),
        };
        let bounds = key.bound.map_or_else(String::new, bounds);
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "| `{name}` | {} | {bounds} | {} |",
            key.default, key.doc
        );
    }
    out
}

/// A bound as the table shows it.
fn bounds(bound: Bound) -> String {
    let Bound { min, max, measure } = bound;
    match measure {
        Measure::Number if max == u64::MAX => format!("at least {min}"),
        Measure::Number => format!("{min} to {max}"),
        Measure::Seconds => format!("above 0, at most {max} s"),
        Measure::Bytes => format!("at most {max} bytes"),
        Measure::Entries => format!("{min} to {max} entries"),
        Measure::FileBytes => format!("a file of at most {max} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");

    #[test]
    fn the_docs_list_every_key_as_the_code_defines_it() {
        let page = std::fs::read_to_string(PAGE).expect("docs/configuration.md");
        let (before, rest) = page.split_once(BEGIN).expect("the begin marker");
        let (table, after) = rest.split_once(END).expect("the end marker");
        let want = format!("\n{}", reference_table());
        if table == want {
            return;
        }
        if std::env::var_os("PAGECRAWL_BLESS").is_some() {
            std::fs::write(PAGE, format!("{before}{BEGIN}{want}{END}{after}")).unwrap();
            return;
        }
        panic!(
            "docs/configuration.md's key table differs from the key table in src/config/keys.rs; \
             rewrite it with `PAGECRAWL_BLESS=1 cargo test --lib config::docs`. It should be:\n{want}"
        );
    }

    #[test]
    fn the_defaults_shown_are_the_defaults_in_force() {
        let config = crate::config::Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[extract]\nitem = \"div\"\n\
             [extract.fields]\nt = \"a\"\n[follow]\nfield = \"t\"\n[follow.fields]\n\
             u = \"a\"\n[download]\nfield = \"u\"\ndir = \"f\"\n[output]\npath = \"o\"\n\
             [frontier]\nkind = \"redis\"\n",
        )
        .unwrap();
        let values = toml::Table::try_from(&config).unwrap();
        let mut compared = 0;
        for key in keys::ALL {
            let value = keys::table_at(&values, key.table()).and_then(|t| t.get(key.name()));
            let shown = match value {
                Some(toml::Value::String(text)) => format!("`{text:?}`"),
                Some(toml::Value::Array(items)) if items.is_empty() => "`[]`".to_string(),
                Some(other) => other.to_string().trim_end_matches(".0").to_string(),
                None => continue,
            };
            // Set by the file above, to see the shared frontier's defaults.
            if key.path == keys::FRONTIER_KIND.path {
                continue;
            }
            let literal = key.default.parse::<f64>().is_ok()
                || matches!(key.default, "true" | "false")
                || key.default.starts_with("`\"")
                || key.default == "`[]`";
            if literal {
                assert_eq!(key.default, shown, "{}", key.path);
                compared += 1;
            }
        }
        assert!(compared > 30, "only {compared} defaults compared");
    }

    #[test]
    fn bounds_read_as_ranges() {
        assert_eq!(bounds(keys::CRAWLERS.bound()), "1 to 512");
        assert_eq!(bounds(keys::PAGE_SIZE.bound()), "at least 1");
        assert_eq!(
            bounds(keys::TIMEOUT_SECS.bound()),
            "above 0, at most 3600 s"
        );
        assert_eq!(bounds(keys::ITEM.bound()), "at most 1024 bytes");
    }
}
