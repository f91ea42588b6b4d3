//! `pagecrawl demo --watch`: three rounds of a service watching the built-in site while it
//! changes, each round's events checked against what the site changed.
//!
//! Round 1 crawls the first edition (every book is new). Between rounds 1 and 2 the site
//! publishes a second edition: 1 % of the prices move, two books are taken down and three are
//! added. Round 3 finds nothing changed, and every page answers `304 Not Modified` to the
//! round's conditional requests. The events of each round must be exactly the ones the
//! editions imply: no event missing, none twice, none that the site did not cause.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use log::info;

use demo_site::{DemoSite, Edition, SiteOptions, Validators, expected_items};
use pagecrawl::config::demo_toml;
use pagecrawl::{Config, ExitCode, OutputLock, OwnerLock, RunOptions, Shutdown};

use super::demo_leftovers::remove_old;
use super::watch::Watch;

/// The books of one edition: link → price, as the site lists them.
type Listed = BTreeMap<String, f64>;

/// The events a round wrote, by kind: link → the event's line.
#[derive(Debug, Default)]
struct RoundEvents {
    new: BTreeMap<String, serde_json::Value>,
    changed: BTreeMap<String, serde_json::Value>,
    gone: BTreeMap<String, serde_json::Value>,
    /// Lines that are no event of this round's, or an event twice.
    unexpected: u64,
}

/// Runs the three rounds on a site of `pages` pages, writing events to `out` and the store
/// beside it; exit 0 only if every round's events are exact.
pub fn run(
    pages: u64,
    out: &Path,
    shutdown: &Shutdown,
    output_lock: &OutputLock,
) -> Result<ExitCode> {
    if pages == 0 {
        bail!("--pages must be at least 1");
    }
    let site = DemoSite::start(SiteOptions {
        pages,
        validators: Validators::ETag,
        ..SiteOptions::default()
    })
    .context("starting the demo site on 127.0.0.1")?;
    info!(
        "demo site serving {pages} pages at http://{}/top250, with ETags",
        site.addr()
    );
    let config = watch_config(&site.url_template(), pages, out)?;
    let _owner = OwnerLock::acquire(&config.output)?;
    remove_earlier_run(&config)?;
    let second = second_edition(pages);
    let rounds: [(&str, Edition); 3] = [
        ("the first edition: every book is new", Edition::default()),
        (
            "a second edition: 1 % of prices moved, 2 books taken down, 3 added",
            second.clone(),
        ),
        ("nothing changed since round 2", second),
    ];
    let options = RunOptions {
        scheduled: true,
        observer: Some(Arc::new(Watch::new(None, None))),
    };
    let mut before = Listed::new();
    let mut exact = true;
    for (n, (what, edition)) in (1..).zip(rounds) {
        site.set_edition(edition);
        let now = listed(&site.options());
        let outcome = pagecrawl::run_with(&config, shutdown, output_lock, &options)?;
        let s = &outcome.summary;
        println!(
            "round {n} ({what}): {} pages fetched, {} not modified; {} new, {} changed, {} gone, \
             {} unchanged",
            s.fetched,
            s.not_modified,
            s.items_new,
            s.items_changed,
            s.items_gone,
            s.items_unchanged
        );
        let code = outcome.exit_code();
        if code != ExitCode::Success {
            return Ok(code);
        }
        let events = read_events(&config.output.path, n)?;
        let check = compare(&before, &now, &events);
        println!("round {n}: {check}");
        exact &= check.is_exact() && (n < 3 || s.not_modified == pages);
        if n == 2 {
            show_examples(&events);
        }
        before = now;
    }
    println!(
        "demo: events in {}, the store in {} (sqlite3 {} \"select key, json_extract(fields, \
         '$.price') from items limit 3\")",
        config.output.path.display(),
        config.output.store.display(),
        config.output.store.display()
    );
    Ok(if exact {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}

/// The demo's config with the listing watched by its links: one event line per change.
fn watch_config(url_template: &str, pages: u64, out: &Path) -> Result<Config> {
    let mut text = demo_toml(url_template, pages - 1, out);
    text = text.replace("[output]\n", "[output]\nkey = \"link\"\nchanges = true\n");
    // A service's rounds: the schedule itself is never waited for, the demo runs each round.
    text.push_str("\n[schedule]\nevery_secs = 3600\n");
    Config::from_toml(&text).context("the built-in demo config with [schedule] and output.key")
}

/// Removes what an earlier `demo --watch` left: the events, the journal and the store with
/// its WAL files (a demo starts from nothing, so that its check is meaningful).
fn remove_earlier_run(config: &Config) -> Result<()> {
    remove_old(&config.output.path)?;
    remove_old(&config.output.state)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut name = config.output.store.as_os_str().to_owned();
        name.push(suffix);
        remove_old(Path::new(&name))?;
    }
    Ok(())
}

/// The second edition of a site of `pages` pages: 1 % of prices moved, the 4th book and the
/// middle one taken down, two books added to the first page and one to the last.
fn second_edition(pages: u64) -> Edition {
    let middle = pages * 25 / 2 + 1;
    Edition {
        number: 1,
        removed: BTreeSet::from([3, middle]),
        added: BTreeMap::from([(0, 2), (pages - 1, 1)]),
        repriced_per_mille: 10,
        ..Edition::default()
    }
}

/// Edition `n` of the listing the benchmark watches (`demo --serve --edition N`): the first
/// for 0; from 1 on, 1 % of the prices move from each edition to the next, nothing else.
pub fn repriced_edition(n: u64) -> Edition {
    Edition {
        number: n,
        repriced_per_mille: if n == 0 { 0 } else { 10 },
        ..Edition::default()
    }
}

/// `demo --verify-changes PATH --edition N`: checks the events of the last round in `path`
/// against what changed from edition `N - 1` to `N` ([`repriced_edition`]) on a site of
/// `pages` pages; prints the counts as JSON, exit 0 only if they are exact.
pub fn verify_changes(path: &Path, pages: u64, edition: u64) -> Result<ExitCode> {
    if edition == 0 {
        bail!("--verify-changes needs --edition 1 or later: edition 0 is where the listing starts");
    }
    let site = |n: u64| SiteOptions {
        pages,
        edition: repriced_edition(n),
        ..SiteOptions::default()
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let round = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|value| value["round"].as_u64())
        .max()
        .with_context(|| format!("{} holds no event line with a round", path.display()))?;
    let events = read_events(path, round)?;
    let check = compare(
        &listed(&site(edition - 1)),
        &listed(&site(edition)),
        &events,
    );
    let [new, changed, gone] = check.expected;
    println!(
        "{}",
        serde_json::json!({
            "round": round,
            "expected_new": new,
            "expected_changed": changed,
            "expected_gone": gone,
            "written": events.new.len() + events.changed.len() + events.gone.len(),
            "missing": check.missing,
            "wrong": check.wrong,
        })
    );
    Ok(if check.is_exact() {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}

/// Every book the site lists now, with its price.
fn listed(opts: &SiteOptions) -> Listed {
    (0..opts.pages)
        .flat_map(|page| expected_items(opts, page))
        .map(|item| (item.link, item.price.parse().unwrap_or(f64::NAN)))
        .collect()
}

/// The events of round `round` in the output at `path`.
fn read_events(path: &Path, round: u64) -> Result<RoundEvents> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut events = RoundEvents::default();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("a line of {} is not JSON: {line}", path.display()))?;
        if value["round"].as_u64() != Some(round) {
            continue;
        }
        let link = value["link"].as_str().unwrap_or_default().to_string();
        let kind = match value["event"].as_str() {
            Some("new") => &mut events.new,
            Some("changed") => &mut events.changed,
            Some("gone") => &mut events.gone,
            _ => {
                events.unexpected += 1;
                continue;
            }
        };
        if kind.insert(link, value).is_some() {
            events.unexpected += 1;
        }
    }
    Ok(events)
}

/// How a round's events compare with the ones the site's editions imply.
#[derive(Debug, Default)]
struct Check {
    /// Events expected, by kind: new, changed, gone.
    expected: [usize; 3],
    /// Expected events not written.
    missing: usize,
    /// Events written that the site did not cause (or wrong in what they say).
    wrong: u64,
}

impl Check {
    /// Every expected event once, and nothing else.
    fn is_exact(&self) -> bool {
        self.missing == 0 && self.wrong == 0
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [new, changed, gone] = self.expected;
        write!(
            f,
            "expected {new} new, {changed} changed, {gone} gone: {} missing, {} wrong{}",
            self.missing,
            self.wrong,
            if self.is_exact() { " (exact)" } else { "" }
        )
    }
}

/// Compares a round's events with the change from `before` to `now`.
fn compare(before: &Listed, now: &Listed, events: &RoundEvents) -> Check {
    let new: BTreeSet<&String> = now.keys().filter(|k| !before.contains_key(*k)).collect();
    let gone: BTreeSet<&String> = before.keys().filter(|k| !now.contains_key(*k)).collect();
    let changed: BTreeMap<&String, (f64, f64)> = now
        .iter()
        .filter_map(|(k, &price)| {
            let old = *before.get(k)?;
            (old != price).then_some((k, (old, price)))
        })
        .collect();
    let mut check = Check {
        expected: [new.len(), changed.len(), gone.len()],
        wrong: events.unexpected,
        ..Check::default()
    };
    let price = |line: &serde_json::Value| line["price"].as_f64();
    for link in &new {
        match events.new.get(*link) {
            Some(line) if price(line) == now.get(*link).copied() => {}
            Some(_) => check.wrong += 1,
            None => check.missing += 1,
        }
    }
    for (link, &(old, price_now)) in &changed {
        match events.changed.get(*link) {
            Some(line)
                if price(line) == Some(price_now)
                    && line["changed"] == serde_json::json!(["price"])
                    && line["previous"]["price"].as_f64() == Some(old) => {}
            Some(_) => check.wrong += 1,
            None => check.missing += 1,
        }
    }
    for link in &gone {
        match events.gone.get(*link) {
            Some(line) if price(line) == before.get(*link).copied() => {}
            Some(_) => check.wrong += 1,
            None => check.missing += 1,
        }
    }
    let stray = |written: &BTreeMap<String, serde_json::Value>,
                 expected: &dyn Fn(&String) -> bool| {
        written.keys().filter(|k| !expected(k)).count() as u64
    };
    check.wrong += stray(&events.new, &|k| new.contains(k));
    check.wrong += stray(&events.changed, &|k| changed.contains_key(k));
    check.wrong += stray(&events.gone, &|k| gone.contains(k));
    check
}

/// Prints one event line of each kind, as written.
fn show_examples(events: &RoundEvents) {
    for kind in [&events.changed, &events.new, &events.gone] {
        if let Some(line) = kind.values().next() {
            println!("  {line}");
        }
    }
}
