//! `pagecrawl try`: one page through the config, to see what it extracts before crawling.
//!
//! With `[follow]`, the first `--items` items are shown whole: their detail pages fetched, and
//! the files `[download]` would store listed with their names (not fetched).
//!
//! The items go to stdout as one pretty JSON array (each item with the keys, in the order, of
//! the output's lines), so that they can be piped to `jq`; what the page was and how well each
//! field matched go to stderr. The library's [`pagecrawl::preview`] does the work and keeps
//! nothing: no output, state, lock or seen-set is opened, and Redis is never contacted.

use anyhow::{Context, Result};
use pagecrawl::extract::Used;
use pagecrawl::{Config, ExitCode, Preview};

/// Fetches page `page` (or `site.first_page`) of `config`'s site and prints its items and the
/// fields' counts. Exit 0 when the page has items, 3 when it has none.
pub fn command(config: &Config, page: Option<u64>, items: usize) -> Result<ExitCode> {
    let page = page.unwrap_or(config.site.first_page);
    let preview = pagecrawl::preview(config, page, items)?;
    let items = preview
        .lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line))
        .collect::<Result<Vec<_>, _>>()
        .context("re-reading the encoded items")?;
    println!("{}", serde_json::to_string_pretty(&items)?);
    eprint!("{}", report(config, &preview));
    Ok(if preview.items == 0 {
        ExitCode::PagesFailed
    } else {
        ExitCode::Success
    })
}

/// What `try` says on stderr: the page, its answer, and per field how many items it filled.
fn report(config: &Config, preview: &Preview) -> String {
    let site = &config.site;
    let mut out = String::from("\n");
    let range = match site.last_page {
        _ if preview.page < site.first_page => " (before `site.first_page`)",
        Some(last) if preview.page > last => " (after `site.last_page`)",
        _ => "",
    };
    out.push_str(&format!("page {}{range}: {}\n", preview.page, preview.url));
    let redirected = if preview.final_url == preview.url {
        String::new()
    } else {
        format!(" from {}", preview.final_url)
    };
    let engine = match preview.used {
        Used::Stream => "stream",
        Used::Dom => "dom",
        Used::Json => "json (JSONPath)",
    };
    out.push_str(&format!(
        "http status {}{redirected}, {} bytes, engine {engine}\n",
        preview.status, preview.body_bytes
    ));
    if let Some(why) = config.extract.stream_unavailable() {
        out.push_str(&format!(
            "(`extract.engine` is \"stream\", but the stream engine cannot match the selector \
             {why}: every page goes to the dom engine)\n"
        ));
    }
    match &preview.next {
        Some(Some(next)) => out.push_str(&format!("next page (`site.next`): {next}\n")),
        Some(None) => out.push_str(
            "no next page (`site.next` found none): the listing would end after this page\n",
        ),
        None => {}
    }
    let item = config.extract.item_selector();
    let total = preview.items;
    if total == 0 {
        out.push_str(&format!(
            "no item: `extract.item` = {item:?} matched nothing on this page. Check it against \
             the page's HTML (as served, before any script runs: `curl {}`)\n",
            preview.final_url
        ));
        return out;
    }
    out.push_str(&format!(
        "{total} items (`extract.item` = {item:?}); items with a value, per field:\n"
    ));
    let detail_names = preview.whole.iter().flat_map(|w| w.detail_filled.iter());
    let width = preview
        .filled
        .iter()
        .chain(detail_names)
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0);
    let specs: Vec<String> = config
        .extract
        .field_specs()
        .map(|(_, spec)| spec.as_toml())
        .collect();
    for ((name, filled), spec) in preview.filled.iter().zip(specs) {
        let note = if *filled == 0 {
            format!("  ← never matched: {spec}")
        } else {
            String::new()
        };
        out.push_str(&format!("  {name:<width$}  {filled}/{total}{note}\n"));
    }
    if let Some(whole) = &preview.whole {
        out.push_str(&format!(
            "shown whole: the first {} of the {total} items, with their detail pages{} \
             (`--items`); nothing was downloaded\n",
            whole.shown,
            if config.download.is_some() {
                " and the files they would store (a name another URL already holds would get \
                 the next free suffix)"
            } else {
                ""
            }
        ));
        for (name, filled) in &whole.detail_filled {
            out.push_str(&format!("  {name:<width$}  {filled}/{}\n", whole.shown));
        }
        for failure in &whole.failures {
            out.push_str(&format!("  {failure}\n"));
        }
    }
    out
}
