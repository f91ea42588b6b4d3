//! One pass of one extraction engine over a corpus, for instruction counts under callgrind:
//! CPU time on a shared machine moves with the neighbours' load, an instruction count does not.
//!
//! ```sh
//! cargo build --release --example engine_instr
//! valgrind --tool=callgrind --toggle-collect='*engine_instr*measure*' \
//!     target/release/examples/engine_instr stream titles demo
//! ```
//!
//! Arguments: the engine (`stream`, `dom`, or `exact`: the stream through html5ever's
//! tokenizer only, the path the fast tokenizer falls back to), a selector set of
//! `examples/engine_cpu.rs` (`titles`, `rows`, `generic`), and the corpus (`demo`: 20 full demo
//! pages; `html5lib`: html5lib-tests' tree-construction inputs). The collected instructions
//! divided by the page count it prints are the instructions per page. It also prints how many
//! pages each path took.

use std::path::Path;

use demo_site::{SiteOptions, render_page};
use pagecrawl::extract::{Engine, Extractor, Used};

/// The selector sets of `examples/engine_cpu.rs`.
fn set(name: &str) -> (&'static str, &'static [(&'static str, &'static str)]) {
    match name {
        "titles" => ("div.pl2", &[("title", "a"), ("link", "a@href")]),
        "rows" => (
            "tr.item",
            &[
                ("title", "div.pl2 a"),
                ("link", "div.pl2 a@href"),
                ("cover", "img@src"),
                ("rating", "span.rating_nums"),
                ("quote", ".inq"),
            ],
        ),
        "generic" => ("div", &[("p", "p"), ("link", "a@href"), ("id", "@id")]),
        other => panic!("no selector set {other:?}: titles, rows or generic"),
    }
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

/// The measured pass: callgrind collects inside this function only.
#[inline(never)]
fn measure(engine: &str, ex: &Extractor, pages: &[String]) -> usize {
    let mut items = 0;
    for page in pages {
        items += match engine {
            "exact" => match ex.extract_stream_exact(page) {
                Some(pagecrawl::extract::StreamOutcome::Items(items)) => items.items.len(),
                _ => 0,
            },
            _ => ex.extract(page).map_or(0, |items| items.items.len()),
        };
    }
    std::hint::black_box(items)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [engine, set_name, corpus] = &args[..] else {
        panic!("usage: engine_instr stream|dom|exact titles|rows|generic demo|html5lib");
    };
    let pages: Vec<String> = match corpus.as_str() {
        "demo" => {
            // Full pages (about 70 KB each), as a crawl of `pagecrawl demo --pages 4000` sees.
            let opts = SiteOptions {
                pages: 20,
                ..SiteOptions::default()
            };
            (0..20).map(|page| render_page(&opts, page)).collect()
        }
        "html5lib" => html5lib_inputs(),
        other => panic!("no corpus {other:?}: demo or html5lib"),
    };
    let (item, fields) = set(set_name);
    let kind = if engine == "dom" {
        Engine::Dom
    } else {
        Engine::Stream
    };
    let ex = Extractor::with_engine(item, fields, kind).unwrap();
    // Warm up lazily built tables (atoms, selector caches) outside the measured pass.
    ex.extract(&pages[0]).ok();
    let items = measure(engine, &ex, &pages);
    let to_tree = pages
        .iter()
        .filter(|page| ex.extract_reporting(page).1 == Used::Dom)
        .count();
    println!(
        "{} pages, {} bytes, {items} items; {to_tree} pages to the tree",
        pages.len(),
        pages.iter().map(String::len).sum::<usize>()
    );
}
