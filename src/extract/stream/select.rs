//! Selectors for the stream engine: parsed exactly as scraper parses them, and checked against
//! what can be decided when an element is created.
//!
//! The stream matches an element the moment the tree builder inserts it, so a selector may only
//! look at the element itself, its ancestors and its earlier siblings (type, class, id and
//! attribute tests; the `>`, `+`, `~` and descendant combinators; `:not`, `:is`, `:where`;
//! `:root`, `:first-child`, `:nth-child(An+B)`, `:first-of-type`, `:nth-of-type(An+B)`).
//! Anything that needs later siblings or children (`:last-child`, `:empty`, `:has` …) or has no
//! meaning outside a browser (`:hover`, pseudo-elements, `:scope`) sends every page to the DOM
//! engine, which says why at the start of a crawl.

use html5ever::LocalName;
use scraper::selector::{Parser, Simple};
use selectors::parser::{Combinator, Component, NthType, ParseRelative, Selector, SelectorList};

/// A compiled selector list, matched with [`super::tree::Tree::matches`].
#[derive(Debug, Clone)]
pub(super) struct List {
    /// The selectors.
    pub(super) selectors: SelectorList<Simple>,
    /// When every selector names the element's type (`div.x`, `td a`), those names, as written
    /// and lower-cased: an element of another name cannot match, and is not asked.
    pub(super) types: Option<Vec<LocalName>>,
}

/// Parses `source` with scraper's own selector parser, so that both engines read a selector
/// alike.
pub(super) fn parse(source: &str) -> Result<List, String> {
    let mut parser = cssparser::Parser::new(source);
    let selectors = SelectorList::parse(&Parser, &mut parser, ParseRelative::No)
        .map_err(|err| format!("{source:?}: {:?}", err.kind))?;
    let types = selectors
        .slice()
        .iter()
        .map(|selector| {
            // Match order is right to left: the rightmost compound, up to the first combinator.
            selector
                .iter_raw_match_order()
                .take_while(|component| !component.is_combinator())
                .find_map(|component| match component {
                    Component::LocalName(name) => {
                        Some([name.name.0.clone(), name.lower_name.0.clone()])
                    }
                    _ => None,
                })
        })
        .collect::<Option<Vec<_>>>()
        .map(|names| names.concat());
    Ok(List { selectors, types })
}

/// Whether every selector in `list` can be decided when an element is created; `Err` names
/// the construct that cannot.
pub(super) fn streamable(source: &str, list: &List) -> Result<(), String> {
    list.selectors
        .slice()
        .iter()
        .try_for_each(|selector| check(selector))
        .map_err(|what| {
            format!("{source:?}: it uses {what}, which needs elements that come after it")
        })
}

/// Adds to `names` every attribute name (ASCII lower case) that a selector of `list` may test
/// on an element: `id` for `#x`, `class` for `.x`, and those of attribute selectors.
pub(super) fn attribute_names(list: &List, names: &mut Vec<String>) {
    for selector in list.selectors.slice() {
        collect_attribute_names(selector, names);
    }
}

fn collect_attribute_names(selector: &Selector<Simple>, names: &mut Vec<String>) {
    for component in selector.iter_raw_match_order() {
        let (name, lower) = match component {
            Component::ID(_) => ("id", "id"),
            Component::Class(_) => ("class", "class"),
            Component::AttributeInNoNamespaceExists {
                local_name,
                local_name_lower,
            } => (&*local_name.0, &*local_name_lower.0),
            Component::AttributeInNoNamespace { local_name, .. } => {
                (&*local_name.0, &*local_name.0)
            }
            Component::AttributeOther(other) => (&*other.local_name.0, &*other.local_name_lower.0),
            Component::Negation(list) | Component::Is(list) | Component::Where(list) => {
                for selector in list.slice() {
                    collect_attribute_names(selector, names);
                }
                continue;
            }
            _ => continue,
        };
        names.push(name.to_ascii_lowercase());
        names.push(lower.to_ascii_lowercase());
    }
}

fn check(selector: &Selector<Simple>) -> Result<(), &'static str> {
    for component in selector.iter_raw_match_order() {
        match component {
            Component::Combinator(
                Combinator::Child
                | Combinator::Descendant
                | Combinator::NextSibling
                | Combinator::LaterSibling,
            )
            | Component::LocalName(_)
            | Component::ExplicitUniversalType
            | Component::ExplicitAnyNamespace
            | Component::ID(_)
            | Component::Class(_)
            | Component::AttributeInNoNamespaceExists { .. }
            | Component::AttributeInNoNamespace { .. }
            | Component::AttributeOther(_)
            | Component::Root => {}
            Component::Nth(nth) if matches!(nth.ty, NthType::Child | NthType::OfType) => {}
            Component::Negation(list) | Component::Is(list) | Component::Where(list) => {
                list.slice().iter().try_for_each(check)?;
            }
            Component::Nth(_) => return Err("`:last-child`, `:only-child` or the like"),
            Component::Empty => return Err("`:empty`"),
            Component::Has(_) => return Err("`:has()`"),
            Component::NthOf(_) => return Err("`:nth-child(… of …)`"),
            Component::Scope | Component::ImplicitScope => return Err("`:scope`"),
            _ => return Err("a pseudo-class or pseudo-element"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_streams_and_what_does_not() {
        for ok in [
            "div.pl2 a",
            "td[valign=top] > span.rating_nums",
            "h2 + p, li ~ li",
            "*",
            "[HREF*=\"&filter\"]",
            "a:not(.x, [rel])",
            ":is(ul, ol) > li:first-child",
            "tr:nth-child(2n+1) td:nth-of-type(2)",
            ":root body",
        ] {
            let list = parse(ok).unwrap();
            assert_eq!(streamable(ok, &list), Ok(()), "{ok}");
        }
        for (no, says) in [
            ("li:last-child", "`:last-child`"),
            ("p:empty", "`:empty`"),
            ("div:has(a)", "`:has()`"),
            (":scope > a", "`:scope`"),
            ("div:not(:only-child)", "`:last-child`"),
        ] {
            let list = parse(no).unwrap();
            let err = streamable(no, &list).unwrap_err();
            assert!(err.contains(says) && err.contains(no), "{no}: {err}");
        }
    }
}
