//! CSS selectors checked as scraper parses them, with errors in our own words: the selector,
//! the character where the problem starts and a short reason (scraper's own message for many
//! errors is "Please report this to the developer").
//!
//! It checks and compiles selectors; it matches nothing.

use std::fmt;

use scraper::Selector;
use selectors::parser::{ParseRelative, SelectorList, SelectorParseErrorKind};

/// A CSS selector that does not parse, in our own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorError {
    /// The selector as written.
    pub selector: String,
    /// Where the problem starts: a character position, 1 for the first character.
    pub column: usize,
    /// The text from there on, shortened.
    pub near: String,
    /// What is wrong, in a few words.
    pub reason: &'static str,
}

impl fmt::Display for SelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid CSS selector {:?} at character {}",
            self.selector, self.column
        )?;
        if !self.near.is_empty() {
            write!(f, " ({:?})", self.near)?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for SelectorError {}

/// Parses `source` as scraper parses a selector (its own parser, so that what passes here
/// compiles there), and on failure says where and why in our own words.
///
/// The selector parser reports no position, so the position is found by parsing growing
/// prefixes of the selector, cut at its token boundaries: the problem is the first token that
/// makes a prefix wrong in a way more text cannot mend, or else (a selector that merely stops
/// too early, such as `div >`) the text after the longest prefix that parses.
pub fn check_selector(source: &str) -> Result<Selector, SelectorError> {
    let kind = match parse_kind(source) {
        None => {
            return Selector::parse(source)
                .map_err(|_| error_at(source, 0, "not a valid selector"));
        }
        Some(kind) => kind,
    };
    let mut longest_ok = 0;
    for (start, end) in token_spans(source) {
        match parse_kind(&source[..end]) {
            None => longest_ok = end,
            Some(ParseKind::Truncated(_)) => {}
            Some(ParseKind::Wrong(kind)) => return Err(error_at(source, start, reason(kind))),
        }
    }
    let rest = &source[longest_ok..];
    let at = longest_ok + (rest.len() - rest.trim_start().len());
    let reason = match kind {
        _ if source[at..].starts_with([')', ']', '}']) => "a closing bracket with no opening one",
        ParseKind::Truncated(kind) | ParseKind::Wrong(kind) => reason(kind),
    };
    Err(error_at(source, at, reason))
}

/// What a selector that comes from Scrapy or XPath habits should be written as, or `None` if it
/// shows none. `short` is whether it is a field's short form (`"a@href"`), where an attribute
/// is written after `@`, rather than a `css` key beside `attr`.
///
/// Scrapy writes `span.text::text` and `a::attr(href)`; the CSS parser rightly calls those
/// unknown pseudo-elements, which tells a Scrapy user nothing about what to write instead.
pub fn scrapy_habit(source: &str, short: bool) -> Option<String> {
    if let Some(hint) = xpath_hint(source) {
        return Some(hint);
    }
    let text = source.trim();
    if let Some(css) = text.strip_suffix("::text") {
        let css = css.trim();
        let instead = if css.is_empty() {
            "{ }".to_string()
        } else {
            format!("{css:?}")
        };
        return Some(format!(
            "`::text` is Scrapy's; an element's text is what a field takes by default: write \
             {instead}"
        ));
    }
    let (css, rest) = text.split_once("::attr(")?;
    let attr = rest.strip_suffix(')')?.trim();
    let css = css.trim();
    let instead = match (short, css.is_empty()) {
        (true, _) => format!("\"{css}@{attr}\""),
        (false, true) => format!("attr = {attr:?}"),
        (false, false) => format!("css = {css:?}, attr = {attr:?}"),
    };
    Some(format!(
        "`::attr({attr})` is Scrapy's; an attribute is written {}: {instead}",
        if short { "after `@`" } else { "as `attr`" }
    ))
}

/// What to write instead of a selector that looks like XPath (`//div`, `./span`), or `None`.
pub fn xpath_hint(source: &str) -> Option<String> {
    let text = source.trim();
    let xpath = text.starts_with('/') || text.starts_with("./") || text.starts_with("(/");
    xpath.then(|| {
        format!(
            "{text:?} looks like XPath; selectors are CSS: `//div[@class=\"q\"]` is \
             \"div.q\", `//a/@href` is \"a@href\""
        )
    })
}

/// A selector parse error, as scraper's parser reports it.
type ErrorKind = cssparser::ParseErrorKind<SelectorParseErrorKind>;

/// What a selector's failure means for the search for its position.
#[derive(Debug, Clone, PartialEq)]
enum ParseKind {
    /// More text could still make it a selector (`div >`, `a:not(`, an empty list item).
    Truncated(ErrorKind),
    /// More text cannot help.
    Wrong(ErrorKind),
}

/// Parses with scraper's selector parser; `None` when it parses.
fn parse_kind(source: &str) -> Option<ParseKind> {
    use SelectorParseErrorKind as Sel;
    use cssparser::{BasicParseErrorKind as Basic, ParseErrorKind as Kind};
    let mut parser = cssparser::Parser::new(source);
    let err =
        SelectorList::parse(&scraper::selector::Parser, &mut parser, ParseRelative::No).err()?;
    Some(match err.kind {
        kind @ (Kind::Basic(Basic::EndOfInput)
        | Kind::Custom(Sel::EmptySelector | Sel::DanglingCombinator)) => ParseKind::Truncated(kind),
        kind => ParseKind::Wrong(kind),
    })
}

/// What is wrong, for a parse error.
fn reason(kind: ErrorKind) -> &'static str {
    use SelectorParseErrorKind as Sel;
    use cssparser::{BasicParseErrorKind as Basic, ParseErrorKind as Kind};
    match kind {
        Kind::Basic(Basic::UnexpectedToken) => "this cannot appear here in a selector",
        Kind::Basic(Basic::EndOfInput) => {
            "the selector stops too early: an unfinished `(…)` or `[…]`, or nothing after `:`"
        }
        Kind::Basic(Basic::AtRuleInvalid | Basic::AtRuleBodyInvalid) => {
            "an @-rule is not a selector"
        }
        Kind::Basic(Basic::QualifiedRuleInvalid) => "not a selector",
        Kind::Basic(Basic::TooManyNestedBlocks) => "too many nested brackets",
        Kind::Custom(custom) => match custom {
            Sel::NoQualifiedNameInAttributeSelector | Sel::InvalidQualNameInAttr => {
                "an attribute selector needs an attribute name: `[name]`, `[name=value]`"
            }
            Sel::EmptySelector => {
                "a selector is missing here: an empty one, nothing after a comma, or a name that \
                 starts with a digit (`#1x`, `.1x`: escape the digit, `#\\31 x`)"
            }
            Sel::DanglingCombinator => "a combinator (`>`, `+`, `~`) with no selector after it",
            Sel::NonCompoundSelector => "only a simple selector (no combinator) is allowed here",
            Sel::NonPseudoElementAfterSlotted
            | Sel::InvalidPseudoElementAfterSlotted
            | Sel::InvalidPseudoElementInsideWhere
            | Sel::InvalidState => "this pseudo-class or pseudo-element cannot appear here",
            Sel::UnexpectedTokenInAttributeSelector | Sel::BadValueInAttr => {
                "inside `[…]`: expected `]`, an operator (`=`, `~=`, `|=`, `^=`, `$=`, `*=`) \
                 and then a name or a quoted value"
            }
            Sel::PseudoElementExpectedColon | Sel::PseudoElementExpectedIdent => {
                "a pseudo-element name must follow `::`"
            }
            Sel::NoIdentForPseudo => "a pseudo-class name must follow `:`",
            Sel::UnsupportedPseudoClassOrElement => {
                "an unknown or unsupported pseudo-class or pseudo-element (pages are matched as \
                 served: no `:hover`, `::before` or jQuery's `:contains`, `:eq`)"
            }
            Sel::UnexpectedIdent => "a name that cannot appear here",
            Sel::ExpectedNamespace => "an undeclared namespace prefix (before `|`)",
            Sel::ExpectedBarInAttr | Sel::ExplicitNamespaceUnexpectedToken => {
                "a namespace `|` must be followed by a name"
            }
            Sel::ClassNeedsIdent => {
                "`.` must be followed by a class name (one that starts with a digit needs \
                 escaping: `.\\31 0` for class \"10\")"
            }
        },
    }
}

/// The error for `source` with the problem starting at byte `at`.
fn error_at(source: &str, at: usize, reason: &'static str) -> SelectorError {
    const NEAR_CHARS: usize = 20;
    let rest = &source[at..];
    let mut near: String = rest.chars().take(NEAR_CHARS).collect();
    if rest.chars().nth(NEAR_CHARS).is_some() {
        near.push('…');
    }
    SelectorError {
        selector: source.to_string(),
        column: source[..at].chars().count() + 1,
        near,
        reason,
    }
}

/// The byte spans of every token of `source`, those inside brackets and the closing brackets
/// included, in order.
fn token_spans(source: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut parser = cssparser::Parser::new(source);
    walk_tokens(&mut parser, &mut spans);
    spans.sort_unstable();
    spans.dedup_by_key(|span| span.1);
    spans
}

fn walk_tokens(parser: &mut cssparser::Parser<'_>, spans: &mut Vec<(usize, usize)>) {
    use cssparser::Token;
    loop {
        let start = parser.position().byte_index();
        let opens_block = match parser.next_including_whitespace_and_comments() {
            Ok(token) => matches!(
                token,
                Token::Function(_)
                    | Token::ParenthesisBlock
                    | Token::SquareBracketBlock
                    | Token::CurlyBracketBlock
            ),
            Err(_) => return,
        };
        spans.push((start, parser.position().byte_index()));
        if opens_block {
            let _ = parser.parse_nested_block(|inner| {
                walk_tokens(inner, spans);
                Ok::<(), cssparser::ParseError<()>>(())
            });
            // The closing bracket, when there is one (the end of input closes a block too).
            let end = parser.position().byte_index();
            if end > start {
                spans.push((end - 1, end));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn bad(selector: &str, column: usize, reason_has: &str) {
        let err = check_selector(selector).unwrap_err();
        assert_eq!(err.column, column, "{selector}: {err}");
        assert!(err.reason.contains(reason_has), "{selector}: {err}");
        let text = err.to_string();
        assert!(text.contains(&format!("{selector:?}")), "{text}");
        assert!(!text.contains("report this"), "{text}");
    }

    #[test]
    fn selector_errors_say_where_and_why() {
        bad("div..x", 5, "class name");
        bad("p:nosuch", 3, "unsupported pseudo-class");
        bad("a:not(.x) b:nosuch", 13, "unsupported pseudo-class");
        bad("a:hover", 3, "unsupported pseudo-class");
        bad("li:eq(2)", 4, "jQuery");
        bad("div::before", 6, "unsupported pseudo-class");
        bad("div > ", 5, "combinator");
        bad("div > a, p >", 12, "combinator");
        bad("div >> a", 5, "combinator");
        bad("", 1, "selector is missing");
        bad("a, ", 2, "nothing after a comma");
        bad("a,,b", 2, "nothing after a comma");
        bad("#1x", 1, "starts with a digit");
        bad("a[=x]", 3, "attribute name");
        bad(r#"[x="y" z]"#, 8, "cannot appear here");
        bad("a[href=x y]", 10, "cannot appear here");
        bad("h3 a:nth-child(2n+)", 18, "stops too early");
        bad("a:nth-child(x)", 13, "cannot appear here");
        bad("a b c d ) e", 9, "closing bracket");
        bad("a|b", 2, "namespace");
        // Columns count characters, not bytes.
        bad("ä ü!x", 4, "cannot appear here");
        let err = check_selector("div..x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid CSS selector \"div..x\" at character 5 (\".x\"): `.` must be followed by a \
             class name (one that starts with a digit needs escaping: `.\\31 0` for class \"10\")"
        );
        let long = format!("div{}", ".x".repeat(30) + " >");
        let err = check_selector(&long).unwrap_err();
        assert_eq!((err.column, err.near.as_str()), (long.len(), ">"));
    }

    #[test]
    fn scrapy_and_xpath_habits_get_what_to_write_instead() {
        let says = |source: &str, short: bool| scrapy_habit(source, short).unwrap();
        assert!(says("span.text::text", true).ends_with("write \"span.text\""));
        assert!(says("::text", true).ends_with("write { }"));
        assert!(says("a::attr(href)", true).ends_with("after `@`: \"a@href\""));
        assert!(says("a.tag::attr( href )", false).ends_with("css = \"a.tag\", attr = \"href\""));
        assert!(says("::attr(src)", false).ends_with("as `attr`: attr = \"src\""));
        assert!(says("//div[@class=\"q\"]", true).contains("looks like XPath; selectors are CSS"));
        assert!(says("./span", true).contains("looks like XPath"));
        for css in ["span.text", "a[href$=\"::text\"] b", "div:not(.x)", "a"] {
            assert_eq!(scrapy_habit(css, true), None, "{css}");
        }
    }

    #[test]
    fn good_selectors_pass() {
        for ok in [
            "div.pl2 a",
            "td[valign=top] > span",
            "a[href",
            "li:nth-child(2n+1)",
            ":is(ul, ol) > li",
            "*",
        ] {
            assert!(check_selector(ok).is_ok(), "{ok}");
        }
    }
}
