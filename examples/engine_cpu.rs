//! CPU per page of the two extraction engines, in process: `engine = "stream"` (the stream,
//! with its fallback to the tree) against `engine = "dom"`, on the demo site's pages and on
//! html5lib-tests' tree-construction inputs, with the share of pages the stream hands to the
//! tree; also the stream through html5ever's tokenizer alone ("exact", what its fast
//! tokenizer hands over to) and the share of pages the fast tokenizer reads to the end.
//! `bench/engines.py` runs it; `cargo run --release --example engine_cpu [ROUNDS]`.
//!
//! Each measurement is the process CPU time of one pass over a corpus; the engines alternate
//! pass by pass and the median of the rounds is reported, so that a neighbour's load on a
//! shared machine weighs on both alike.

use std::path::Path;
use std::time::Duration;

use demo_site::{SiteOptions, render_page};
use pagecrawl::extract::{Engine, Extractor, Reading, StreamOutcome, Used};

/// A selector set: its name, the item selector and the `(name, spec)` fields.
type Set = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The selector sets measured: the demo config's, the demo's full rows, and a generic one.
const SETS: &[Set] = &[
    ("titles", "div.pl2", &[("title", "a"), ("link", "a@href")]),
    (
        "rows",
        "tr.item",
        &[
            ("title", "div.pl2 a"),
            ("link", "div.pl2 a@href"),
            ("cover", "img@src"),
            ("rating", "span.rating_nums"),
            ("quote", ".inq"),
        ],
    ),
    (
        "generic",
        "div",
        &[("p", "p"), ("link", "a@href"), ("id", "@id")],
    ),
];

fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU microseconds per page of one pass of `ex` over `pages`.
fn pass(ex: &Extractor, pages: &[String]) -> f64 {
    timed(pages, |page| {
        ex.extract(page).map_or(0, |items| items.items.len())
    })
}

/// CPU microseconds per page of the stream engine through html5ever's tokenizer alone (what
/// the fast tokenizer falls back to), without the DOM engine's fallback.
fn pass_exact(ex: &Extractor, pages: &[String]) -> f64 {
    timed(pages, |page| match ex.extract_stream_exact(page) {
        Some(StreamOutcome::Items(items)) => items.items.len(),
        _ => 0,
    })
}

fn timed(pages: &[String], mut extract: impl FnMut(&str) -> usize) -> f64 {
    let start = cpu_time();
    let mut items = 0;
    for page in pages {
        items += extract(page);
    }
    std::hint::black_box(items);
    (cpu_time() - start).as_secs_f64() * 1e6 / pages.len() as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn html5lib_inputs() -> Vec<String> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/html5lib-tests/tree-construction");
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the vendored html5lib-tests") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for section in text.split("#data\n").skip(1) {
            inputs.push(section.split_once("\n#errors\n").unwrap().0.to_string());
        }
    }
    inputs
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(7, |n| n.parse().expect("ROUNDS is a number"));
    // Full pages (about 70 KB each, 25 books), as a crawl of `pagecrawl demo --pages 4000` sees.
    let opts = SiteOptions {
        pages: 20,
        ..SiteOptions::default()
    };
    let demo: Vec<String> = (0..20).map(|page| render_page(&opts, page)).collect();
    // Tiny inputs: each pass goes over the corpus several times, for a measurable time.
    let inputs = html5lib_inputs();
    let corpus: Vec<String> = (0..20).flat_map(|_| inputs.iter().cloned()).collect();
    println!(
        "corpus     set      stream us/page  exact us/page  dom us/page  stream/dom  pages to the tree  fast tokenizer alone"
    );
    for (name, pages, distinct) in [
        ("demo", &demo, 20),
        ("html5lib", &corpus, corpus.len() / 20),
    ] {
        for (set, item, fields) in SETS {
            let stream = Extractor::with_engine(item, fields, Engine::Stream).unwrap();
            let dom = Extractor::with_engine(item, fields, Engine::Dom).unwrap();
            let (mut s, mut e, mut d) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                s.push(pass(&stream, pages));
                e.push(pass_exact(&stream, pages));
                d.push(pass(&dom, pages));
            }
            let (s, e, d) = (median(s), median(e), median(d));
            let to_tree = pages[..distinct]
                .iter()
                .filter(|page| stream.extract_reporting(page).1 == Used::Dom)
                .count();
            let fast = pages[..distinct]
                .iter()
                .filter(|page| {
                    stream
                        .extract_stream_reading(page)
                        .is_some_and(|(_, reading)| reading == Reading::Fast)
                })
                .count();
            println!(
                "{name:10} {set:8} {s:14.1} {e:14.1} {d:12.1} {:11.2} {to_tree:6} of {distinct} ({:.1} %) {:17.1} %",
                s / d,
                100.0 * to_tree as f64 / distinct as f64,
                100.0 * fast as f64 / distinct as f64
            );
        }
    }
}
