//! The fast tokenizer (`super::fast`) against html5ever's, token by token: both feed the same
//! tree builder, which records what it receives (`Builder::record`), and the records must be
//! equal on html5lib-tests' tree-construction and tokenizer inputs, the demo pages and random
//! token soup.
//!
//! A record is what the tree builder can tell apart: runs of text are joined (the builder
//! treats adjacent text tokens as one run), parse errors are left out except while a newline
//! after `<pre>`, `<listing>` or `<textarea>` may still be dropped and a newline comes next (the
//! one thing an error changes), comments are recorded without their text (the builder never
//! reads it), and attributes the fast tokenizer drops on purpose (`Walk::reads_attribute`) are
//! left out of both records.

use std::path::Path;

use html5ever::tokenizer::Token;
use proptest::prelude::*;

use super::builder::Builder;
use super::tags::BuilderReads;
use super::{Plan, PlanField, Reading};
use crate::extract::PageLimits;

impl Builder<'_> {
    /// Adds `token` to [`Builder::tokens`], as the module documentation describes.
    pub(super) fn record(&mut self, token: &Token) {
        // The error closed the newline window; it mattered only if a newline comes next.
        if self.tokens.last().is_some_and(|last| last == AFTER_PRE)
            && !matches!(token, Token::CharacterTokens(text) if text.starts_with('\n'))
        {
            self.tokens.pop();
        }
        let entry = match token {
            Token::ParseError(_) if self.ignore_lf => AFTER_PRE.to_string(),
            Token::ParseError(_) => return,
            Token::CharacterTokens(text) => {
                if let Some(last) = self.tokens.last_mut()
                    && last.starts_with("text ")
                {
                    last.push_str(text);
                    return;
                }
                format!("text {text}")
            }
            Token::NullCharacterToken => "NUL".to_string(),
            Token::CommentToken(_) => "comment".to_string(),
            Token::EOFToken => "end of file".to_string(),
            Token::DoctypeToken(doctype) => format!("{doctype:?}"),
            Token::TagToken(tag) => {
                let builder_reads = BuilderReads::of(&tag.name);
                let attrs: Vec<String> = tag
                    .attrs
                    .iter()
                    .filter(|attr| {
                        let name = attr.name.local.as_bytes();
                        builder_reads.attribute(name) || self.walk.reads_attribute(name)
                    })
                    .map(|attr| format!("{}={:?}", &*attr.name.local, &*attr.value))
                    .collect();
                format!(
                    "{:?} {:?} {attrs:?}{}",
                    tag.kind,
                    &*tag.name,
                    if tag.self_closing { " /" } else { "" }
                )
            }
        };
        self.tokens.push(entry);
    }
}

/// The record of a parse error while a newline after `<pre>` may still be dropped, kept when a
/// newline follows.
const AFTER_PRE: &str = "a parse error after <pre>, then a newline";

/// A plan whose selectors and fields read a few attributes (so that some are dropped).
fn plan() -> Plan {
    Plan::new(
        "div, [id]",
        &[
            PlanField {
                selector: Some("a"),
                attr: Some("href"),
                all: false,
            },
            PlanField {
                selector: Some("svg use"),
                attr: Some("xlink:href"),
                all: false,
            },
        ],
    )
    .unwrap()
}

/// Both records of `html`, and which tokenizer read it on the fast path.
fn records(plan: &Plan, html: &str) -> (Vec<String>, Vec<String>, Reading) {
    let (fast, _, reading) = plan.read(html, PageLimits::default(), true);
    let (exact, _, _) = plan.read(html, PageLimits::default(), false);
    (fast.tokens, exact.tokens, reading)
}

/// Compares the records on every input; returns how many took each path.
fn compare(inputs: impl IntoIterator<Item = String>) -> [usize; 3] {
    let plan = plan();
    let mut readings = [0; 3];
    let mut differences = Vec::new();
    for html in inputs {
        let (fast, exact, reading) = records(&plan, &html);
        readings[reading as usize] += 1;
        if fast != exact {
            let at = fast.iter().zip(&exact).take_while(|(a, b)| a == b).count();
            differences.push(format!(
                "{html:?} ({reading:?}): token {at}: fast {:?}, html5ever {:?}",
                fast.get(at),
                exact.get(at)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} inputs differ, the first ones:\n{}",
        differences.len(),
        differences[..differences.len().min(10)].join("\n")
    );
    readings
}

fn data(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/html5lib-tests")
        .join(path)
}

#[test]
fn html5lib_tree_construction_inputs_give_html5evers_tokens() {
    let mut inputs = Vec::new();
    for entry in std::fs::read_dir(data("tree-construction")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for section in text.split("#data\n").skip(1) {
            inputs.push(section.split_once("\n#errors\n").unwrap().0.to_string());
        }
    }
    assert!(inputs.len() > 1700, "{} inputs", inputs.len());
    let [fast, handover, html5ever] = compare(inputs);
    eprintln!("tree-construction: {fast} fast, {handover} handed over, {html5ever} with NUL");
    assert!(
        fast > 1200,
        "only {fast} inputs read by the fast tokenizer alone"
    );
}

#[test]
fn html5lib_tokenizer_inputs_give_html5evers_tokens() {
    let text = std::fs::read_to_string(data("tokenizer/inputs.jsonl")).unwrap();
    let inputs: Vec<String> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(inputs.len() > 6000, "{} inputs", inputs.len());
    let [fast, handover, html5ever] = compare(inputs);
    eprintln!("tokenizer: {fast} fast, {handover} handed over, {html5ever} with NUL");
    assert!(
        fast > 3000,
        "only {fast} inputs read by the fast tokenizer alone"
    );
}

#[test]
fn demo_pages_are_read_by_the_fast_tokenizer_alone() {
    use demo_site::{SiteOptions, render_page};
    let opts = SiteOptions::default();
    let pages = [0, 3, opts.pages].map(|page| render_page(&opts, page));
    // Windows line ends too.
    let crlf = pages[0].replace('\n', "\r\n");
    assert_eq!(compare(pages.into_iter().chain([crlf])), [4, 0, 0]);
}

/// Pieces of markup, each well formed or broken in one of the ways a tokenizer must follow.
fn piece() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "<div>",
        "</div>",
        "<DIV Class=A>",
        "<p id=x>",
        "<a href='/x?a=1&amp;b=2'>",
        "</a>",
        "<a href=\"&copy=3&notit;&#x41;&#65\">",
        "<b>",
        "</b>",
        "<br/>",
        "<br/ >",
        "<img src=x/>",
        "<pre>",
        "</pre>",
        "<textarea>",
        "</textarea>",
        "<listing>",
        "\n",
        "\r",
        "\r\n",
        "\t",
        " ",
        "&",
        "&amp",
        "&amp;",
        "&nbsp;x",
        "&#0;",
        "&#x80;",
        "&#xD800;",
        "&#128512;",
        "&#",
        "&#x;",
        "&notin;",
        "&NotEqualTilde;",
        "&ampx",
        "&zzz;",
        "<",
        "< b",
        "<<",
        "</>",
        "</ x>",
        "<?php x ?>",
        "<!x>",
        "<!-- c -->",
        "<!---->",
        "<!-->",
        "<!--->",
        "<!-- a --!>",
        "<!-- <!-- -->",
        "<!-- --",
        "<!DOCTYPE html>",
        "<!doctype HTML>",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">",
        "<!DOCTYPE html SYSTEM 'about:legacy-compat'>",
        "<!DOCTYPE>",
        "<!DOCTYPE html x>",
        "<script>",
        "</script>",
        "</SCRIPT >",
        "</scriptx>",
        "<script>a<b</script>",
        "<script><!-- x --></script>",
        "<script><!--<script></script>--></script>",
        "<style>",
        "</style>",
        "<title>",
        "</title>",
        "<title>&amp;</title",
        "<xmp>",
        "<plaintext>",
        "<svg>",
        "</svg>",
        "<svg viewBox='0 0 1 1'><use xlink:href=#i /></svg>",
        "<math><mi>",
        "<![CDATA[x]]>",
        "<table>",
        "<tr>",
        "<td>",
        "</table>",
        "x",
        "y z",
        "中文",
        "\u{feff}",
        "<a b c=d e='f' g=\"h\" b=dup>",
        "<a x=1y=2>",
        "<a x='1'y='2'>",
        "<a =x>",
        "<a \"x>",
        "<a x=>",
        "<a x= >",
        "<a x=`y`>",
        "<a x=a<b>",
        "<div/x>",
        "</div x=1>",
        "</div/>",
        "<input type=HIDDEN>",
        "<font color=red>",
        "<body class=b>",
        "<html lang=en>",
        "<noscript>",
        "</noscript>",
        "<iframe>",
        "</iframe>",
        "\u{0}",
    ]);
    prop_oneof![4 => fixed.prop_map(str::to_string), 1 => "[a-z<>&;#/=\"' \n]{0,6}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_markup_gives_html5evers_tokens(pieces in prop::collection::vec(piece(), 0..30)) {
        compare([pieces.concat()]);
    }
}
