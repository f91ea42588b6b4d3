//! Character references (`&amp;`, `&#x4e2d;`, `&notin`), decoded as html5ever 0.40's
//! `tokenizer/char_ref` decodes them, for the fast tokenizer (`super::fast`).
//!
//! The decoder reads the characters after a `&` and says what html5ever's character reference
//! tokenizer would emit and how much it would consume. It takes the same steps on the same
//! table (`html5ever::data::NAMED_ENTITIES`, which holds every entity name and every prefix of
//! one): a named reference grows one character at a time while the name so far is a prefix of
//! some entity, the longest full match wins, and the legacy rule for attributes leaves
//! `&copy=3` as written. Whatever html5ever pushes back into its input (a name that matched
//! nothing, the characters after the longest match) is left in the input here too, to be read
//! again as ordinary text. Parse errors are not reported: html5ever emits each one just before
//! the characters of the same reference, so the tree builder sees a token next either way.

use html5ever::data::{C1_REPLACEMENTS, NAMED_ENTITIES};

/// What a `&` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Decoded {
    /// Bytes consumed after the `&`.
    pub(super) consumed: usize,
    /// One or two characters.
    pub(super) chars: [char; 2],
    /// How many of `chars` count.
    pub(super) len: usize,
}

impl Decoded {
    fn one(consumed: usize, c: char) -> Decoded {
        Decoded {
            consumed,
            chars: [c, '\0'],
            len: 1,
        }
    }

    /// The characters, as a string slice in `buf`.
    pub(super) fn as_str<'b>(&self, buf: &'b mut [u8; 8]) -> &'b str {
        let first = self.chars[0].encode_utf8(&mut buf[..4]).len();
        let second = if self.len == 2 {
            self.chars[1].encode_utf8(&mut buf[first..first + 4]).len()
        } else {
            0
        };
        std::str::from_utf8(&buf[..first + second]).expect("encoded characters")
    }
}

/// Decodes the character reference whose `&` comes just before `rest`; `None` when html5ever
/// reads no reference there (the `&` is text, and so is what follows it).
pub(super) fn decode(rest: &str, in_attribute: bool) -> Option<Decoded> {
    match rest.as_bytes().first() {
        Some(b'#') => numeric(rest),
        Some(c) if c.is_ascii_alphanumeric() => named(rest, in_attribute),
        _ => None,
    }
}

/// `&#…` (html5ever's `do_octothorpe`, `do_numeric`, `do_numeric_semicolon`).
fn numeric(rest: &str) -> Option<Decoded> {
    let bytes = rest.as_bytes();
    let (base, mut at) = match bytes.get(1) {
        Some(b'x' | b'X') => (16, 2),
        _ => (10, 1),
    };
    let digits = at;
    let mut num: u32 = 0;
    let mut too_big = false;
    while let Some(n) = bytes.get(at).and_then(|&b| char::from(b).to_digit(base)) {
        num = num.wrapping_mul(base);
        if num > 0x10FFFF {
            too_big = true;
        }
        num = num.wrapping_add(n);
        at += 1;
    }
    if at == digits {
        // No digits: `&#` or `&#x` is text.
        return None;
    }
    if bytes.get(at) == Some(&b';') {
        at += 1;
    }
    Some(Decoded::one(at, numeric_char(num, too_big)))
}

/// html5ever's `finish_numeric`: what a code point stands for.
fn numeric_char(num: u32, too_big: bool) -> char {
    let conv = |n: u32| char::from_u32(n).expect("a valid scalar value");
    match num {
        n if n > 0x10FFFF || too_big => '\u{fffd}',
        0x00 | 0xD800..=0xDFFF => '\u{fffd}',
        0x80..=0x9F => C1_REPLACEMENTS[(num - 0x80) as usize].unwrap_or_else(|| conv(num)),
        n => conv(n),
    }
}

/// `&name…` (html5ever's `do_named`, `finish_named` and `do_bogus_name`).
fn named(rest: &str, in_attribute: bool) -> Option<Decoded> {
    let name_end = rest
        .bytes()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    // The common case, `&name;` with a known name, in one look-up: every prefix of an entity
    // is in the table, so html5ever's walk reaches the whole name, and no longer match can
    // follow a `;`.
    if rest.as_bytes().get(name_end) == Some(&b';')
        && let Some(&value) = NAMED_ENTITIES.get(&rest[..=name_end])
        && value.0 != 0
    {
        return Some(entity(name_end + 1, value));
    }
    // The longest full match so far: (its length in bytes, its characters).
    let mut found: Option<(usize, (u32, u32))> = None;
    // html5ever takes each character into its name buffer, then looks the buffer up: the
    // character that ends the walk is part of the buffer, and pushed back with it.
    for (at, c) in rest.char_indices() {
        let end = at + c.len_utf8();
        match NAMED_ENTITIES.get(&rest[..end]) {
            Some(&value) => {
                if value.0 != 0 {
                    found = Some((end, value));
                }
            }
            None => break,
        }
    }
    let (len, value) = found?;
    let last_matched = rest.as_bytes()[len - 1];
    let next = rest.as_bytes().get(len).copied();
    if last_matched != b';'
        && in_attribute
        && next.is_some_and(|b| b == b'=' || b.is_ascii_alphanumeric())
    {
        // The legacy rule: `&copy=3` in an attribute stays as written.
        return None;
    }
    Some(entity(len, value))
}

/// A named reference's characters, `consumed` bytes long.
fn entity(consumed: usize, (c1, c2): (u32, u32)) -> Decoded {
    let conv = |n: u32| char::from_u32(n).expect("an entity's scalar value");
    Decoded {
        consumed,
        chars: [conv(c1), if c2 == 0 { '\0' } else { conv(c2) }],
        len: if c2 == 0 { 1 } else { 2 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rest: &str, in_attribute: bool) -> Option<(usize, String)> {
        decode(rest, in_attribute).map(|d| (d.consumed, d.as_str(&mut [0; 8]).to_string()))
    }

    #[test]
    fn references_decode_as_html5ever_reads_them() {
        let some = |n: usize, s: &str| Some((n, s.to_string()));
        assert_eq!(text("amp; x", false), some(4, "&"));
        assert_eq!(text("amp x", false), some(3, "&"));
        assert_eq!(text("notit;", false), some(3, "¬"));
        assert_eq!(text("notin;", false), some(6, "∉"));
        assert_eq!(text("notit;", true), None);
        assert_eq!(text("copy=3", true), None);
        assert_eq!(text("copy=3", false), some(4, "©"));
        assert_eq!(text("copy;=3", true), some(5, "©"));
        assert_eq!(text("b=2", true), None);
        assert_eq!(text("foo;", false), None);
        assert_eq!(text(" x", false), None);
        assert_eq!(text("", false), None);
        assert_eq!(text("NotEqualTilde;", false), some(14, "≂\u{338}"));
        assert_eq!(text("#x4e2d;", false), some(7, "中"));
        assert_eq!(text("#X41", false), some(4, "A"));
        assert_eq!(text("#65x", false), some(3, "A"));
        assert_eq!(text("#x;", false), None);
        assert_eq!(text("#;", false), None);
        assert_eq!(text("#0;", false), some(3, "\u{fffd}"));
        assert_eq!(text("#x80;", false), some(5, "€"));
        assert_eq!(text("#x81;", false), some(5, "\u{81}"));
        assert_eq!(text("#xD800;", false), some(7, "\u{fffd}"));
        assert_eq!(text("#1114112;", false), some(9, "\u{fffd}"));
        assert_eq!(text("#99999999999999;", false), some(16, "\u{fffd}"));
        assert_eq!(text("#13;", false), some(4, "\r"));
    }
}
