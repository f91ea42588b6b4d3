//! The `srcset` and `imagesrcset` attribute syntax of the HTML standard: the image candidates
//! a value lists, each a URL with an optional width or density descriptor.
//!
//! It only splits a value; [`crate::extract::values`] resolves the URLs.

/// One image candidate of a `srcset` value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate<'a> {
    /// The URL as written (not resolved).
    pub url: &'a str,
    /// Its descriptor.
    pub descriptor: Descriptor,
}

/// The descriptor of a `srcset` candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Descriptor {
    /// None (the same as `1x`).
    None,
    /// `480w`: the image's width in pixels.
    Width(u32),
    /// `2x`: its pixel density.
    Density(f64),
}

/// The candidates of a `srcset` (or `imagesrcset`) value, by the HTML standard's "parse a
/// srcset attribute": a URL runs to the next whitespace, so commas inside a URL stay in it
/// (`data:image/png;base64,…`, `a,b.jpg 1x`) and only commas at its end separate candidates;
/// descriptors may hold parentheses with commas inside; a candidate with an invalid descriptor
/// (`1q`, `0w`, `2x 3x`, a negative density) is dropped, as browsers drop it.
pub fn parse_srcset(value: &str) -> Vec<Candidate<'_>> {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0C' | '\r');
    let mut candidates = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches(|c| is_space(c) || c == ',');
        if rest.is_empty() {
            return candidates;
        }
        let end = rest.find(is_space).unwrap_or(rest.len());
        let (mut url, after) = rest.split_at(end);
        rest = after;
        let descriptors = if url.ends_with(',') {
            url = url.trim_end_matches(',');
            Vec::new()
        } else {
            let (descriptors, after) = split_descriptors(rest);
            rest = after;
            descriptors
        };
        if let Some(descriptor) = parse_descriptors(&descriptors) {
            candidates.push(Candidate { url, descriptor });
        }
    }
}

/// The standard's descriptor tokenizer: the descriptors up to the comma that ends the
/// candidate (parentheses may hold commas), and the text after it.
fn split_descriptors(text: &str) -> (Vec<&str>, &str) {
    let mut descriptors = Vec::new();
    let mut start = None;
    let mut in_parens = false;
    for (i, c) in text.char_indices() {
        match c {
            ')' if in_parens => in_parens = false,
            _ if in_parens => {}
            '(' => {
                in_parens = true;
                start.get_or_insert(i);
            }
            ',' => {
                descriptors.extend(start.map(|s| &text[s..i]));
                return (descriptors, &text[i + 1..]);
            }
            ' ' | '\t' | '\n' | '\x0C' | '\r' => {
                descriptors.extend(start.take().map(|s| &text[s..i]))
            }
            _ => {
                start.get_or_insert(i);
            }
        }
    }
    descriptors.extend(start.map(|s| &text[s..]));
    (descriptors, "")
}

/// The standard's descriptor parser: at most one of a width (`w`) or a density (`x`), a height
/// (`h`) only beside a width; `None` when the candidate must be dropped.
fn parse_descriptors(descriptors: &[&str]) -> Option<Descriptor> {
    let mut descriptor = Descriptor::None;
    let mut height = false;
    for text in descriptors {
        let (number, unit) = text.split_at(text.len() - text.chars().last()?.len_utf8());
        let digits = || !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        match unit {
            "w" if descriptor == Descriptor::None && digits() => {
                descriptor = Descriptor::Width(number.parse().ok().filter(|&w| w > 0)?);
            }
            "x" if descriptor == Descriptor::None && !height && is_valid_float(number) => {
                let density: f64 = number.parse().ok()?;
                descriptor = Descriptor::Density((density >= 0.0).then_some(density)?);
            }
            "h" if !height && !matches!(descriptor, Descriptor::Density(_)) && digits() => {
                number.parse::<u32>().ok().filter(|&h| h > 0)?;
                height = true;
            }
            _ => return None,
        }
    }
    if height && !matches!(descriptor, Descriptor::Width(_)) {
        return None;
    }
    Some(descriptor)
}

/// The HTML standard's "valid floating-point number": `-`, digits, an optional fraction with
/// digits, an optional exponent (`1`, `1.5`, `-2e3`; not `.5`, `1.` or `+1`).
fn is_valid_float(text: &str) -> bool {
    let text = text.strip_prefix('-').unwrap_or(text);
    let (int, rest) = leading_digits(text);
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => match leading_digits(fraction) {
            ("", _) => return false,
            (_, rest) => rest,
        },
        None => rest,
    };
    let rest = match rest.strip_prefix(['e', 'E']) {
        Some(exp) => match leading_digits(exp.strip_prefix(['-', '+']).unwrap_or(exp)) {
            ("", _) => return false,
            (_, rest) => rest,
        },
        None => rest,
    };
    !int.is_empty() && rest.is_empty()
}

/// The leading ASCII digits of `text`, and the rest.
fn leading_digits(text: &str) -> (&str, &str) {
    let end = text.bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(srcset: &str) -> Vec<(&str, Descriptor)> {
        parse_srcset(srcset)
            .into_iter()
            .map(|c| (c.url, c.descriptor))
            .collect()
    }

    #[test]
    fn srcset_parsing_follows_the_standard() {
        use Descriptor::{Density, None as Plain, Width};
        assert_eq!(candidates("a.jpg"), [("a.jpg", Plain)]);
        assert_eq!(
            candidates(" a.jpg 1x ,b.jpg  2.5x"),
            [("a.jpg", Density(1.0)), ("b.jpg", Density(2.5))]
        );
        // Commas inside a URL stay in it; trailing commas end the candidate.
        assert_eq!(
            candidates("a,b.jpg 1x, c.jpg,, d.jpg"),
            [
                ("a,b.jpg", Density(1.0)),
                ("c.jpg", Plain),
                ("d.jpg", Plain)
            ]
        );
        assert_eq!(
            candidates("data:image/png;base64,iVBORw0KGgo= 1x, e.jpg 100w"),
            [
                ("data:image/png;base64,iVBORw0KGgo=", Density(1.0)),
                ("e.jpg", Width(100))
            ]
        );
        // Parentheses in a descriptor may hold commas; the candidate is dropped as invalid.
        assert_eq!(
            candidates("a.jpg foo(1, 2) 1x, b.jpg 1x"),
            [("b.jpg", Density(1.0))]
        );
        // Invalid descriptors drop their candidate only.
        for bad in [
            "a.jpg 0w",
            "a.jpg 1q",
            "a.jpg 2x 3x",
            "a.jpg 100w 2x",
            "a.jpg -1x",
            "a.jpg .5x",
            "a.jpg 10h",
            "a.jpg 1x 10h",
            "a.jpg 1.x",
            "a.jpg 1W",
        ] {
            assert_eq!(
                candidates(&format!("{bad}, ok.jpg")),
                [("ok.jpg", Plain)],
                "{bad}"
            );
        }
        assert_eq!(candidates("a.jpg 100w 50h"), [("a.jpg", Width(100))]);
        assert_eq!(candidates("a.jpg 1e1x"), [("a.jpg", Density(10.0))]);
        assert_eq!(candidates(""), []);
        assert_eq!(candidates(" , ,, "), []);
        assert_eq!(candidates("a.jpg (unclosed, b.jpg"), []);
    }
}
