//! The fast tokenizer: html5ever's tokens for the markup real pages are made of, found with
//! `memchr` instead of html5ever's character-at-a-time state machine, fed to the same tree
//! builder (`super::builder`).
//!
//! It is a whitelist. It reads text, start and end tags with quoted and unquoted attributes,
//! comments, the usual DOCTYPEs, raw text (`<script>`, `<style>` …) and RCDATA (`<title>`,
//! `<textarea>`), and character references (`super::charref`), each exactly as html5ever 0.40's
//! tokenizer reads it. At anything else (`<?`, `</>`, `<![CDATA[`, a tag cut off by the end of
//! the page, `<!--` inside a script, an odd DOCTYPE …) it stops and hands the rest of the page
//! to html5ever's own tokenizer, started in the state html5ever would be in at that point
//! ([`Handover`]): the builder goes on with the same tree. A page with a NUL byte never starts
//! here, and line ends are normalised (`\r\n` and `\r` to `\n`) before, as html5ever's input
//! stream does (see `super::stream`). Where html5ever's driver feeds its tokenizer anew (after a
//! script's end tag, or an encoding named in the head), that tokenizer drops a byte order mark
//! as at the page's start, and so does this one.
//!
//! The tokens are html5ever's but for two things the tree builder cannot tell apart: runs of
//! text may be cut into other pieces, and parse errors are not reported. The builder treats
//! adjacent text tokens as one run (each rule that looks at text splits it itself), and it uses
//! a parse error for one thing only: any token, an error too, ends the "drop a newline after
//! `<pre>`" window. Every error this tokenizer reads past is one html5ever reports just before
//! a token of the same construct (a tag, a comment, the characters of a reference, the `<`
//! of `a < b`), so the window closes at the same place either way. `tests` in
//! `super::fast_tests` compare the tokens with html5ever's on html5lib-tests' inputs.

use std::ops::Range;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::{RawKind, State};
use html5ever::tokenizer::{Doctype, Tag, TagKind, Token, TokenSinkResult};
use html5ever::{Attribute, LocalName, QualName, ns};
use memchr::{memchr, memchr2, memmem};

use super::builder::{Builder, Refeed};
use super::charref::{self, Decoded};
use super::tags::{self, BuilderReads};
use super::{BOM, Irregular};

/// Why the fast tokenizer stopped before the end of the page.
#[derive(Debug)]
pub(super) enum Stop {
    /// The tree builder refused a token: the page goes to the DOM engine.
    Refused(Irregular),
    /// A construct this tokenizer does not read: html5ever's tokenizer goes on from there.
    Handover(Handover),
}

/// Where and how html5ever's tokenizer takes over.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Handover {
    /// The byte offset in the (normalised) page where it starts reading.
    pub(super) at: usize,
    /// Its state there: the data state, or raw text after the start tag named below.
    pub(super) state: State,
    /// The last start tag's name, which decides what ends raw text.
    pub(super) last_start_tag: Option<String>,
}

/// Where the tokenizer is between two tokens.
#[derive(Debug, Clone, Copy)]
enum Place {
    Data,
    Raw(RawKind),
    Plaintext,
}

/// The tokenizer's state: the page and the builder its tokens go to.
struct Reader<'t, 'b, 'p> {
    /// The page, line ends normalised.
    text: &'t str,
    /// The same, as bytes.
    bytes: &'t [u8],
    /// The tree builder.
    builder: &'b mut Builder<'p>,
    /// The name of the last start tag, which decides what ends raw text.
    last_start_tag: Option<LocalName>,
}

/// Tokenizes `text` (NUL-free, line ends normalised) into `builder`,
/// up to its end of file token, or says where and why it stopped.
pub(super) fn run(text: &str, builder: &mut Builder<'_>) -> Result<(), Stop> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        builder,
        last_start_tag: None,
    };
    // html5ever drops a byte order mark at the start of the input.
    let mut at = if text.starts_with(BOM) {
        BOM.len_utf8()
    } else {
        0
    };
    let mut place = Place::Data;
    while at < text.len() {
        (at, place) = match place {
            Place::Data => reader.data(at)?,
            Place::Raw(kind) => reader.raw_text(at, kind)?,
            Place::Plaintext => {
                reader.chars(at..text.len())?;
                (text.len(), place)
            }
        };
    }
    reader.emit(Token::EOFToken).map(drop)
}

/// Whitespace as the tokenizer's states know it (`\r` is gone by now).
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0C | b' ')
}

impl Reader<'_, '_, '_> {
    fn emit(&mut self, token: Token) -> Result<TokenSinkResult<()>, Stop> {
        self.builder.process_token(token).map_err(Stop::Refused)
    }

    /// A run of text, if not empty.
    fn chars(&mut self, range: Range<usize>) -> Result<(), Stop> {
        if range.is_empty() {
            return Ok(());
        }
        self.builder
            .process_text(&self.text[range])
            .map_err(Stop::Refused)
    }

    /// The characters of a reference.
    fn decoded(&mut self, decoded: Decoded) -> Result<(), Stop> {
        let mut buf = [0; 8];
        let text = decoded.as_str(&mut buf);
        self.builder.process_text(text).map_err(Stop::Refused)
    }

    /// Text in `range` with its character references decoded (RCDATA), as tokens.
    fn text_with_references(&mut self, range: Range<usize>) -> Result<(), Stop> {
        let (mut start, mut at) = (range.start, range.start);
        while let Some(found) = memchr(b'&', &self.bytes[at..range.end]) {
            let amp = at + found;
            at = amp + 1;
            if let Some(decoded) = charref::decode(&self.text[at..], false) {
                self.chars(start..amp)?;
                self.decoded(decoded)?;
                at += decoded.consumed;
                start = at;
            }
        }
        self.chars(start..range.end)
    }

    fn handover(&self, at: usize, state: State) -> Stop {
        Stop::Handover(Handover {
            at,
            state,
            last_start_tag: self.last_start_tag.as_deref().map(str::to_string),
        })
    }

    /// The data state from `start`: text up to the next tag, comment or DOCTYPE, and that.
    /// Returns where to go on, and in which state.
    fn data(&mut self, start: usize) -> Result<(usize, Place), Stop> {
        let (mut text_start, mut at) = (start, start);
        loop {
            let Some(found) = memchr2(b'<', b'&', &self.bytes[at..]) else {
                self.chars(text_start..self.bytes.len())?;
                return Ok((self.bytes.len(), Place::Data));
            };
            let i = at + found;
            at = i + 1;
            if self.bytes[i] == b'&' {
                if let Some(decoded) = charref::decode(&self.text[at..], false) {
                    self.chars(text_start..i)?;
                    self.decoded(decoded)?;
                    at += decoded.consumed;
                    text_start = at;
                }
                continue;
            }
            let next = self.bytes.get(i + 1).copied();
            let read = match next {
                Some(b) if b.is_ascii_alphabetic() => self.tag(i + 1, TagKind::StartTag),
                Some(b'/') if self.bytes.get(i + 2).is_some_and(u8::is_ascii_alphabetic) => {
                    self.tag(i + 2, TagKind::EndTag)
                }
                Some(b'!') => self.markup_declaration(i),
                // `<` and anything else is text (html5ever reports an error, then emits `<`).
                Some(b) if !matches!(b, b'/' | b'?') => continue,
                _ => None,
            };
            self.chars(text_start..i)?;
            let Some((token, end)) = read else {
                return Err(self.handover(i, State::Data));
            };
            return self.emit_markup(token, end);
        }
    }

    /// Emits a tag, comment or DOCTYPE that ends at `end`: where to go on, and in which state
    /// (a start tag may switch the tokenizer to raw text).
    fn emit_markup(&mut self, token: Token, end: usize) -> Result<(usize, Place), Stop> {
        if let Token::TagToken(tag) = &token
            && tag.kind == TagKind::StartTag
        {
            self.last_start_tag = Some(tag.name.clone());
        }
        let place = match self.emit(token)? {
            TokenSinkResult::RawData(kind) => Place::Raw(kind),
            TokenSinkResult::Plaintext => Place::Plaintext,
            _ => Place::Data,
        };
        // Where html5ever's driver feeds its tokenizer anew, the tokenizer drops a byte order
        // mark as at the page's start.
        let refeed = self.builder.refeed;
        if refeed == Refeed::No || !self.text[end..].starts_with(BOM) {
            return Ok((end, place));
        }
        match refeed {
            Refeed::IfContentNamesEncoding => {
                Err(Stop::Refused(Irregular::ByteOrderMarkAfterContentType))
            }
            _ => Ok((end + BOM.len_utf8(), place)),
        }
    }

    /// Raw text or RCDATA from `start`, up to the end tag that closes it, and that end tag.
    fn raw_text(&mut self, start: usize, kind: RawKind) -> Result<(usize, Place), Stop> {
        let end_tag = self.appropriate_end_tag(start);
        let stop = end_tag.unwrap_or(self.bytes.len());
        match kind {
            RawKind::Rcdata => self.text_with_references(start..stop)?,
            RawKind::Rawtext => self.chars(start..stop)?,
            // `<!--` in a script starts the escaped states, where `<script>` may hide the
            // end tag: html5ever reads such a script.
            RawKind::ScriptData if memmem::find(&self.bytes[start..stop], b"<!--").is_none() => {
                self.chars(start..stop)?
            }
            _ => return Err(self.handover(start, State::RawData(kind))),
        }
        let Some(at) = end_tag else {
            return Ok((stop, Place::Data));
        };
        match self.tag(at + 2, TagKind::EndTag) {
            Some((token, end)) => self.emit_markup(token, end),
            // From `</`, the data state reads the rest of the end tag as the raw text end tag
            // states would.
            None => Err(self.handover(at, State::Data)),
        }
    }

    /// The first `</name` after `start` followed by whitespace, `/` or `>`, where `name` is
    /// the last start tag's, in any case (html5ever's "appropriate end tag").
    fn appropriate_end_tag(&self, start: usize) -> Option<usize> {
        let name = self.last_start_tag.as_deref()?.as_bytes();
        let mut at = start;
        while let Some(found) = memchr(b'<', &self.bytes[at..]) {
            let i = at + found;
            at = i + 1;
            let after = i + 2 + name.len();
            if self.bytes.get(i + 1) == Some(&b'/')
                && self
                    .bytes
                    .get(i + 2..after)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
                && self
                    .bytes
                    .get(after)
                    .is_some_and(|&b| is_space(b) || b == b'/' || b == b'>')
            {
                return Some(i);
            }
        }
        None
    }

    /// `<!--`, `<!DOCTYPE` at `at`: the token and where it ends, or `None` for html5ever.
    fn markup_declaration(&self, at: usize) -> Option<(Token, usize)> {
        let rest = &self.bytes[at + 2..];
        if rest.starts_with(b"--") {
            return Some((
                Token::CommentToken(StrTendril::new()),
                self.comment(at + 4)?,
            ));
        }
        if rest.len() >= 7 && rest[..7].eq_ignore_ascii_case(b"doctype") {
            return self.doctype(at + 9);
        }
        None
    }

    /// A comment whose text starts at `body`: where it ends. `<!-->` and `<!--->`, which
    /// html5ever ends at once, and a comment cut off by the end of the page are left to it.
    fn comment(&self, body: usize) -> Option<usize> {
        let rest = &self.bytes[body..];
        if rest.starts_with(b">") || rest.starts_with(b"->") {
            return None;
        }
        // A comment ends at the first `>` after two dashes, or after `--!`: every state of
        // html5ever's comment states but the first two is decided by the dashes just read
        // (`<!--` inside a comment counts as the dashes it ends with).
        let mut from = 0;
        while let Some(found) = memmem::find(&rest[from..], b"--") {
            let mut end = from + found + 2;
            while rest.get(end) == Some(&b'-') {
                end += 1;
            }
            match (rest.get(end), rest.get(end + 1)) {
                (Some(b'>'), _) => return Some(body + end + 1),
                (Some(b'!'), Some(b'>')) => return Some(body + end + 2),
                _ => from += found + 1,
            }
        }
        None
    }

    /// Past the whitespace at `at`.
    fn skip_space(&self, mut at: usize) -> usize {
        while self.bytes.get(at).copied().is_some_and(is_space) {
            at += 1;
        }
        at
    }

    /// A tag or attribute name: ASCII upper case lowered, the rest as written.
    fn local_name(&self, range: Range<usize>) -> LocalName {
        let name = &self.text[range];
        if let Some(known) = tags::common_name(name.as_bytes()) {
            return known;
        }
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            LocalName::from(name.to_ascii_lowercase())
        } else {
            LocalName::from(name)
        }
    }

    /// A start or end tag whose name starts at `name_start`: the token and where it ends, or
    /// `None` for html5ever (odd characters where an attribute name starts, a tag cut off by
    /// the end of the page, `=` with no value).
    fn tag(&mut self, name_start: usize, kind: TagKind) -> Option<(Token, usize)> {
        let bytes = self.bytes;
        let name_end = name_start
            + bytes[name_start..]
                .iter()
                .position(|&b| is_space(b) || b == b'/' || b == b'>')?;
        let name = self.local_name(name_start..name_end);
        // An attribute that neither the tree builder nor a selector or a field reads is
        // dropped: the items are the same, without its value, its interned name and its room
        // in the list.
        let builder_reads = BuilderReads::of(&name);
        let mut tag = Tag {
            kind,
            name,
            self_closing: false,
            attrs: Vec::new(),
            had_duplicate_attributes: false,
        };
        let mut at = name_end;
        loop {
            // The before attribute name state.
            at = self.skip_space(at);
            match *bytes.get(at)? {
                b'>' => return Some((Token::TagToken(tag), at + 1)),
                b'/' if bytes.get(at + 1) == Some(&b'>') => {
                    tag.self_closing = true;
                    return Some((Token::TagToken(tag), at + 2));
                }
                // A `/` inside a tag: an error, and what follows is read as before an
                // attribute name.
                b'/' => {
                    at += 1;
                    continue;
                }
                b'"' | b'\'' | b'<' | b'=' => return None,
                _ => {}
            }
            let name = at..at
                + bytes[at..]
                    .iter()
                    .position(|&b| is_space(b) || matches!(b, b'/' | b'>' | b'='))?;
            if bytes[name.clone()]
                .iter()
                .any(|b| matches!(b, b'"' | b'\'' | b'<'))
            {
                return None;
            }
            at = self.skip_space(name.end);
            let mut value = at..at;
            if bytes.get(at) == Some(&b'=') {
                at = self.skip_space(at + 1);
                match *bytes.get(at)? {
                    quote @ (b'"' | b'\'') => {
                        value = at + 1..at + 1 + memchr(quote, &bytes[at + 1..])?;
                        at = value.end + 1;
                    }
                    b'>' => return None,
                    _ => {
                        value =
                            at..at + bytes[at..].iter().position(|&b| is_space(b) || b == b'>')?;
                        at = value.end;
                    }
                }
            }
            let attr_name = &bytes[name.clone()];
            if !builder_reads.attribute(attr_name) && !self.builder.walk.reads_attribute(attr_name)
            {
                continue;
            }
            let value = self.attribute_value(value);
            // html5ever keeps the first of two attributes of the same name.
            let name = self.local_name(name);
            if tag.attrs.iter().any(|attr| attr.name.local == name) {
                tag.had_duplicate_attributes = true;
            } else {
                if tag.attrs.capacity() == 0 {
                    // The room of an earlier tag's list, which the tree has taken apart.
                    tag.attrs = self.builder.tree.spare_attrs();
                }
                tag.attrs.push(Attribute {
                    name: QualName::new(None, ns!(), name),
                    value,
                });
            }
        }
    }

    /// An attribute value, its character references decoded.
    fn attribute_value(&mut self, range: Range<usize>) -> StrTendril {
        let Some(first) = memchr(b'&', &self.bytes[range.clone()]) else {
            return self.builder.tree.value(&self.text[range]);
        };
        let mut value = StrTendril::new();
        let (mut start, mut amp) = (range.start, range.start + first);
        loop {
            let at = amp + 1;
            let mut next = at;
            if let Some(decoded) = charref::decode(&self.text[at..], true) {
                value.push_slice(&self.text[start..amp]);
                value.push_slice(decoded.as_str(&mut [0; 8]));
                next += decoded.consumed;
                start = next;
            }
            match memchr(b'&', &self.bytes[next..range.end]) {
                Some(found) => amp = next + found,
                None => break,
            }
        }
        value.push_slice(&self.text[start..range.end]);
        value
    }

    /// A DOCTYPE whose name follows `at`: `<!DOCTYPE html>`, with a `PUBLIC` or `SYSTEM`
    /// identifier or two; any other form is left to html5ever.
    fn doctype(&self, at: usize) -> Option<(Token, usize)> {
        let bytes = self.bytes;
        if !bytes.get(at).copied().is_some_and(is_space) {
            return None;
        }
        let start = self.skip_space(at);
        let name_end = start
            + bytes[start..]
                .iter()
                .position(|&b| is_space(b) || b == b'>')?;
        if name_end == start {
            return None;
        }
        let mut doctype = Doctype {
            name: Some(StrTendril::from_slice(
                &self.text[start..name_end].to_ascii_lowercase(),
            )),
            ..Doctype::default()
        };
        let mut at = self.skip_space(name_end);
        if bytes.get(at) != Some(&b'>') {
            let keyword = bytes.get(at..at + 6)?;
            let public = keyword.eq_ignore_ascii_case(b"public");
            if !public && !keyword.eq_ignore_ascii_case(b"system")
                || !bytes.get(at + 6).copied().is_some_and(is_space)
            {
                return None;
            }
            let (id, end) = self.doctype_id(self.skip_space(at + 6))?;
            at = self.skip_space(end);
            if !public {
                doctype.system_id = Some(id);
            } else {
                doctype.public_id = Some(id);
                if end < at && matches!(bytes.get(at), Some(b'"' | b'\'')) {
                    let (id, end) = self.doctype_id(at)?;
                    doctype.system_id = Some(id);
                    at = self.skip_space(end);
                }
            }
            if bytes.get(at) != Some(&b'>') {
                return None;
            }
        }
        Some((Token::DoctypeToken(doctype), at + 1))
    }

    /// A quoted DOCTYPE identifier at `at` and where it ends; one with a `>` in it (which
    /// ends the DOCTYPE early) is left to html5ever.
    fn doctype_id(&self, at: usize) -> Option<(StrTendril, usize)> {
        let quote = *self.bytes.get(at).filter(|&&b| b == b'"' || b == b'\'')?;
        let end = at + 1 + memchr(quote, &self.bytes[at + 1..])?;
        if memchr(b'>', &self.bytes[at + 1..end]).is_some() {
            return None;
        }
        Some((StrTendril::from_slice(&self.text[at + 1..end]), end + 1))
    }
}
