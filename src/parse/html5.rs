//! Where an HTML5 tree builder would not nest elements as the tags are written.
//!
//! The streaming engine sees start and end tags nested as written (an end tag closes the
//! innermost open element of its name and everything above it). An HTML5 parser repairs markup
//! instead: it closes elements implicitly, moves content out of tables, ignores some tags and
//! clones formatting elements. [`Shadow`] follows the open elements as the stream sees them and
//! says when a tag is one the HTML5 tree builder would treat differently; the page then goes to
//! the DOM engine. It errs on the side of saying so: a false alarm costs speed, a miss would
//! cost correctness.

/// The element breaks out of `<svg>` and `<math>` (the standard's list; `font` included
/// whatever its attributes).
const BREAKS_OUT: u8 = 1;
/// Its start tag closes an open `<p>` (in button scope).
const CLOSES_P: u8 = 2;
/// A formatting element: its end tag runs the adoption agency, and an HTML5 parser re-opens it
/// when another end tag closed it first.
const FORMATTING: u8 = 4;
/// The standard's "special" category.
const SPECIAL: u8 = 8;
/// It ends the scope in which an end tag looks for its element.
const SCOPE: u8 = 16;
/// A table part: outside a table's rows, an HTML5 parser ignores it or closes something.
const TABLE_PART: u8 = 32;
/// Its contents are not put in the tree as written (`<template>`, `<frameset>` …).
const UNSUPPORTED: u8 = 64;

/// What an HTML5 tree builder does with an element of this name, as flags.
fn flags_of(name: &str) -> u8 {
    match name {
        "a" => FORMATTING,
        "address" => CLOSES_P | SPECIAL,
        "applet" => SPECIAL | SCOPE,
        "article" => CLOSES_P | SPECIAL,
        "aside" => CLOSES_P | SPECIAL,
        "b" => BREAKS_OUT | FORMATTING,
        "big" => BREAKS_OUT | FORMATTING,
        "blockquote" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "body" => BREAKS_OUT | SPECIAL,
        "br" => BREAKS_OUT,
        "button" => SPECIAL,
        "caption" => SPECIAL | SCOPE | TABLE_PART,
        "center" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "code" => BREAKS_OUT | FORMATTING,
        "col" => TABLE_PART,
        "colgroup" => SPECIAL | TABLE_PART,
        "dd" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "details" => CLOSES_P | SPECIAL,
        "dialog" => CLOSES_P,
        "dir" => CLOSES_P | SPECIAL,
        "div" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "dl" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "dt" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "em" => BREAKS_OUT | FORMATTING,
        "embed" => BREAKS_OUT,
        "fieldset" => CLOSES_P | SPECIAL,
        "figcaption" => CLOSES_P | SPECIAL,
        "figure" => CLOSES_P | SPECIAL,
        "font" => BREAKS_OUT | FORMATTING,
        "footer" => CLOSES_P | SPECIAL,
        "form" => CLOSES_P | SPECIAL,
        "frame" => UNSUPPORTED,
        "frameset" => SPECIAL | UNSUPPORTED,
        "h1" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "h2" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "h3" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "h4" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "h5" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "h6" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "head" => BREAKS_OUT | SPECIAL,
        "header" => CLOSES_P | SPECIAL,
        "hgroup" => CLOSES_P | SPECIAL,
        "hr" => BREAKS_OUT | CLOSES_P,
        "html" => SPECIAL | SCOPE,
        "i" => BREAKS_OUT | FORMATTING,
        "image" => UNSUPPORTED,
        "img" => BREAKS_OUT,
        "input" => 0,
        "isindex" => UNSUPPORTED,
        "li" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "listing" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "main" => CLOSES_P | SPECIAL,
        "marquee" => SPECIAL | SCOPE,
        "math" => SCOPE,
        "menu" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "meta" => BREAKS_OUT,
        "nav" => CLOSES_P | SPECIAL,
        "nobr" => BREAKS_OUT | FORMATTING,
        "object" => SPECIAL | SCOPE,
        "ol" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "optgroup" => 0,
        "option" => 0,
        "p" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "plaintext" => CLOSES_P | UNSUPPORTED,
        "pre" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "rb" => 0,
        "rp" => 0,
        "rt" => 0,
        "rtc" => 0,
        "ruby" => BREAKS_OUT,
        "s" => BREAKS_OUT | FORMATTING,
        "script" => 0,
        "search" => CLOSES_P | SPECIAL,
        "section" => CLOSES_P | SPECIAL,
        "select" => SPECIAL,
        "small" => BREAKS_OUT | FORMATTING,
        "span" => BREAKS_OUT,
        "strike" => BREAKS_OUT | FORMATTING,
        "strong" => BREAKS_OUT | FORMATTING,
        "style" => 0,
        "sub" => BREAKS_OUT,
        "summary" => CLOSES_P | SPECIAL,
        "sup" => BREAKS_OUT,
        "svg" => SCOPE,
        "table" => BREAKS_OUT | CLOSES_P | SPECIAL | SCOPE,
        "tbody" => SPECIAL | TABLE_PART,
        "td" => SPECIAL | SCOPE | TABLE_PART,
        "template" => SPECIAL | SCOPE | UNSUPPORTED,
        "tfoot" => SPECIAL | TABLE_PART,
        "th" => SPECIAL | SCOPE | TABLE_PART,
        "thead" => SPECIAL | TABLE_PART,
        "tr" => SPECIAL | TABLE_PART,
        "tt" => BREAKS_OUT | FORMATTING,
        "u" => BREAKS_OUT | FORMATTING,
        "ul" => BREAKS_OUT | CLOSES_P | SPECIAL,
        "var" => BREAKS_OUT,
        "xmp" => CLOSES_P,
        _ => 0,
    }
}

/// Names whose open elements are counted, so that the checks do not scan a deep stack.
const COUNTED: [&str; 14] = [
    "p", "a", "li", "dd", "dt", "button", "nobr", "form", "svg", "math", "select", "body", "head",
    "html",
];

/// The index of `name` in [`COUNTED`].
fn counted(name: &str) -> Option<usize> {
    Some(match name {
        "p" => 0,
        "a" => 1,
        "li" => 2,
        "dd" => 3,
        "dt" => 4,
        "button" => 5,
        "nobr" => 6,
        "form" => 7,
        "svg" => 8,
        "math" => 9,
        "select" => 10,
        "body" => 11,
        "head" => 12,
        "html" => 13,
        _ => return None,
    })
}

/// The open elements as the stream nests them.
#[derive(Debug, Default)]
pub(super) struct Shadow {
    /// Open element names, outermost first.
    stack: Vec<String>,
    /// Open elements of each of the [`COUNTED`] names.
    counts: [usize; COUNTED.len()],
    /// `<p>` elements closed by their own end tag.
    pub(super) paragraphs_closed: usize,
}

impl Shadow {
    /// An element `name` starts. `Err` says why an HTML5 tree would differ. When it can have
    /// content, it is pushed, and its index is what [`Shadow::end`] takes later.
    pub(super) fn start(&mut self, name: String, has_content: bool) -> Result<usize, &'static str> {
        let checked = self.check_start(&name);
        let depth = self.stack.len();
        if has_content {
            self.count(&name, 1);
            self.stack.push(name);
        }
        checked.map(|()| depth)
    }

    /// Whether text read now is directly inside a table or one of its row groups or rows: an
    /// HTML5 parser moves such text in front of the table unless it is all ASCII whitespace.
    pub(super) fn in_table_text(&self) -> bool {
        matches!(
            self.stack.last().map(String::as_str),
            Some("table" | "tbody" | "thead" | "tfoot" | "tr")
        )
    }

    /// Adds `delta` to the count of open `name` elements, if that name is counted.
    fn count(&mut self, name: &str, delta: isize) {
        if let Some(at) = counted(name) {
            self.counts[at] = self.counts[at].saturating_add_signed(delta);
        }
    }

    /// Whether an element `name` (one of [`COUNTED`]) is open.
    fn has(&self, name: &str) -> bool {
        counted(name).is_some_and(|at| self.counts[at] > 0)
    }

    fn check_start(&self, tag: &str) -> Result<(), &'static str> {
        let flags = flags_of(tag);
        let is = |flag: u8| flags & flag != 0;
        let has = |name: &str| self.has(name);
        let current = self.stack.last().map_or("", String::as_str);
        if is(UNSUPPORTED) {
            return Err("a <template>, <frameset>, <plaintext> or <image> element");
        }
        match tag {
            "html" if !self.stack.is_empty() => return Err("a second <html>"),
            "head" if has("head") || has("body") => return Err("a second <head>"),
            "body" if has("body") => return Err("a second <body>"),
            _ => {}
        }
        if (has("svg") || has("math")) && is(BREAKS_OUT) {
            return Err("an HTML element inside <svg> or <math>");
        }
        if has("select") && !matches!(tag, "option" | "optgroup" | "hr" | "script" | "template") {
            return Err("an element that the HTML5 parser drops from <select>");
        }
        let allowed: Option<&[&str]> = match current {
            "table" => Some(&[
                "caption", "colgroup", "col", "tbody", "thead", "tfoot", "tr", "script", "style",
                "template", "input", "form",
            ]),
            "tbody" | "thead" | "tfoot" => Some(&["tr", "script", "style", "template"]),
            "tr" => Some(&["td", "th", "script", "style", "template"]),
            "colgroup" => Some(&["col", "template"]),
            _ => None,
        };
        match allowed {
            Some(allowed) if !allowed.contains(&tag) => {
                return Err("an element misplaced in a table (moved out, or implying a row)");
            }
            None if is(TABLE_PART) => {
                return Err("a table part outside a table's rows (ignored, or closing a cell)");
            }
            _ => {}
        }
        let closes = match tag {
            "a" => self.in_scope("a", |open| flags_of(open) & SCOPE != 0 && open != "html"),
            "li" => self.closes_list_item(&["li"]),
            "dd" | "dt" => self.closes_list_item(&["dd", "dt"]),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                matches!(current, "h1" | "h2" | "h3" | "h4" | "h5" | "h6")
            }
            "button" => self.in_scope("button", |open| flags_of(open) & SCOPE != 0),
            "nobr" => self.in_scope("nobr", |open| flags_of(open) & SCOPE != 0),
            "form" => has("form"),
            "option" => current == "option",
            "optgroup" => matches!(current, "option" | "optgroup"),
            "rb" | "rp" | "rt" | "rtc" => matches!(current, "rb" | "rp" | "rt" | "rtc"),
            _ => false,
        };
        let closes_p = is(CLOSES_P)
            && self.in_scope("p", |open| flags_of(open) & SCOPE != 0 || open == "button");
        if closes || closes_p {
            return Err("a start tag that closes an open element implicitly");
        }
        Ok(())
    }

    /// Whether an open `name` is reachable from the top before a `boundary`.
    fn in_scope(&self, name: &str, boundary: impl Fn(&str) -> bool) -> bool {
        if !self.has(name) {
            return false;
        }
        for open in self.stack.iter().rev() {
            if open == name {
                return true;
            }
            if boundary(open) {
                return false;
            }
        }
        false
    }

    /// Whether a new `<li>` (or `<dd>`/`<dt>`) would close an open one of `names`.
    fn closes_list_item(&self, names: &[&str]) -> bool {
        if !names.iter().any(|name| self.has(name)) {
            return false;
        }
        for open in self.stack.iter().rev() {
            if names.contains(&open.as_str()) {
                return true;
            }
            if flags_of(open) & SPECIAL != 0 && !matches!(open.as_str(), "address" | "div" | "p") {
                return false;
            }
        }
        false
    }

    /// The element opened at `depth` is closed by the end tag `by`. lol_html closes the
    /// elements above it first, each with this same end tag. `Err` says why an HTML5 tree would
    /// differ.
    pub(super) fn end(&mut self, depth: usize, by: &str) -> Result<(), &'static str> {
        if self.stack.len() != depth + 1 {
            return Err("end tags in an unexpected order");
        }
        let own = self.stack.pop().unwrap_or_default();
        self.count(&own, -1);
        let own = own.as_str();
        if own.eq_ignore_ascii_case(by) {
            if own == "p" {
                self.paragraphs_closed += 1;
            }
            return Ok(());
        }
        let flags = flags_of(own);
        if flags & FORMATTING != 0 {
            return Err("a formatting element closed by another element's end tag");
        }
        if flags & SCOPE != 0 || own == "select" {
            return Err("an end tag that an HTML5 parser would not let through a table or <svg>");
        }
        if flags_of(by) & FORMATTING != 0 && flags & SPECIAL != 0 {
            return Err("a block inside a formatting element that closes first");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `tags` (`"div"` starts, `"/div"` ends) as lol_html would nest them, and returns
    /// the first objection.
    fn run(tags: &[&str]) -> Result<(), &'static str> {
        let mut shadow = Shadow::default();
        let mut open: Vec<(usize, String)> = Vec::new();
        for tag in tags {
            if let Some(name) = tag.strip_prefix('/') {
                let Some(at) = open.iter().rposition(|(_, n)| n == name) else {
                    continue;
                };
                for (depth, _) in open.split_off(at).into_iter().rev() {
                    shadow.end(depth, name)?;
                }
            } else {
                let depth = shadow.start(tag.to_string(), true)?;
                open.push((depth, tag.to_string()));
            }
        }
        Ok(())
    }

    #[test]
    fn well_formed_markup_passes() {
        let page = [
            "html", "head", "title", "/title", "/head", "body", "div", "ul", "li", "a", "/a", "ul",
            "li", "/li", "/ul", "/li", "/ul", "table", "tr", "td", "table", "tbody", "tr", "th",
            "b", "/b", "/th", "/tr", "/tbody", "/table", "/td", "/tr", "/table", "p", "span",
            "/span", "/p", "svg", "path", "/path", "/svg", "select", "option", "/option",
            "/select", "/div", "/body", "/html",
        ];
        assert_eq!(run(&page), Ok(()));
        // Unclosed inline elements closed by a block's end tag, as HTML5 parsers do too.
        assert_eq!(run(&["div", "span", "/div", "p", "span", "/p"]), Ok(()));
    }

    #[test]
    fn repaired_markup_is_reported() {
        let cases: &[&[&str]] = &[
            &["p", "div"],
            &["a", "span", "a"],
            &["ul", "li", "li"],
            &["dl", "dt", "div", "dd"],
            &["h1", "h2"],
            &["table", "div"],
            &["table", "td"],
            &["tr"],
            &["table", "tr", "td", "div", "td"],
            &["select", "div"],
            &["svg", "p"],
            &["template"],
            &["body", "body"],
            &["div", "b", "/div"],
            &["a", "div", "/a"],
            &["div", "table", "tr", "td", "/div"],
            &["form", "form"],
        ];
        for tags in cases {
            assert!(run(tags).is_err(), "{tags:?}");
        }
    }
}
