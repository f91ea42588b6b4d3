//! A response body, from the bytes on the wire to text: its `Content-Encoding` undone, the
//! `max_body_bytes` limit applied to what that decoding produces, then its charset decoded.
//!
//! Crawlers ask for `gzip, deflate, br` and this module decodes exactly those three (and an
//! unencoded body); any other encoding fails the page with a message rather than being parsed as
//! markup. Decoding happens here, not in the HTTP client, so that every encoding goes through the
//! same limit: a bomb of any of the three stops one byte past `max_body_bytes`, however little it
//! weighed on the wire. This module neither connects nor retries.

use std::io::{BufRead, BufReader, Read};

use encoding_rs::Encoding;

use super::error::FetchError;

/// The `Accept-Encoding` every request sends: what [`ContentEncoding`] can decode.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// The brotli decoder's input buffer, in bytes.
const BROTLI_BUFFER: usize = 16 * 1024;

/// A response's `Content-Encoding`, among those [`ACCEPT_ENCODING`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentEncoding {
    /// No header, or `identity`: the bytes are the body.
    Identity,
    /// `gzip` (or its old name `x-gzip`).
    Gzip,
    /// `deflate`: a zlib stream as RFC 9110 says, or a bare deflate stream as some servers send.
    Deflate,
    /// `br`: brotli.
    Brotli,
}

impl ContentEncoding {
    /// The encoding a `Content-Encoding` header value names; an error for one that was not
    /// asked for (including a list of several, which no server needs to send to us).
    pub fn of(header: Option<&str>) -> Result<ContentEncoding, FetchError> {
        let value = header.unwrap_or("").trim().to_ascii_lowercase();
        match value.as_str() {
            "" | "identity" => Ok(ContentEncoding::Identity),
            "gzip" | "x-gzip" => Ok(ContentEncoding::Gzip),
            "deflate" => Ok(ContentEncoding::Deflate),
            "br" => Ok(ContentEncoding::Brotli),
            _ => Err(FetchError::Encoding(format!(
                "Content-Encoding {value:?} was not asked for (Accept-Encoding: {ACCEPT_ENCODING})"
            ))),
        }
    }

    /// The name used in messages.
    fn name(self) -> &'static str {
        match self {
            ContentEncoding::Identity => "identity",
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
            ContentEncoding::Brotli => "br",
        }
    }

    /// A reader of the decoded body over `raw`, the body as it arrives.
    ///
    /// Each decoder is built in a function of its own: built here, the brotli decoder's state
    /// (about 24 KiB, made on the stack before it is boxed) gave this function a frame that
    /// large, and every crawler thread kept those stack pages resident even for unencoded pages
    /// (0.75 MiB of the resident set at 32 crawlers).
    fn decoder<'a>(self, raw: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            ContentEncoding::Identity => Box::new(raw),
            ContentEncoding::Gzip => gzip_decoder(raw),
            ContentEncoding::Deflate => deflate_decoder(raw)?,
            ContentEncoding::Brotli => brotli_decoder(raw),
        })
    }
}

/// A gzip decoder over `raw`.
#[inline(never)]
fn gzip_decoder<'a>(raw: impl Read + 'a) -> Box<dyn Read + 'a> {
    Box::new(flate2::read::MultiGzDecoder::new(raw))
}

/// A deflate decoder over `raw`: RFC 9110's deflate is zlib-wrapped; some servers send the bare
/// stream. A zlib header is told by its first two bytes (RFC 1950: method 8, and a check that
/// makes them a multiple of 31); a bare stream matches only if it opens with a stored block and
/// the 1-in-31 chance, and then fails as an invalid body.
#[inline(never)]
fn deflate_decoder<'a>(raw: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
    let mut raw = BufReader::new(raw);
    let head = raw.fill_buf()?;
    let zlib = head.len() >= 2
        && head[0] & 0x0f == 8
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
    Ok(if zlib {
        Box::new(flate2::bufread::ZlibDecoder::new(raw))
    } else {
        Box::new(flate2::bufread::DeflateDecoder::new(raw))
    })
}

/// A brotli decoder over `raw`, RFC 7932 windows only (at most 16 MiB): the large-window
/// extension would let a stream ask for a 1 GiB ring buffer.
#[inline(never)]
fn brotli_decoder<'a>(raw: impl Read + 'a) -> Box<dyn Read + 'a> {
    let mut decoder = brotli_decompressor::Decompressor::new(raw, BROTLI_BUFFER);
    decoder.set_parameter(
        brotli_decompressor::BrotliDecoderParameter::BROTLI_DECODER_PARAM_LARGE_WINDOW,
        0,
    );
    Box::new(decoder)
}

/// Like [`read_decoded`], but writing the decoded bytes to `into` as they come (a file being
/// downloaded): at most `limit` bytes, a larger body is [`FetchError::TooLarge`]. An error of
/// `into` is [`FetchError::Store`].
pub fn copy_decoded(
    raw: impl Read,
    encoding: ContentEncoding,
    limit: u64,
    into: &mut impl std::io::Write,
) -> Result<(), FetchError> {
    let failed = |err: std::io::Error| read_failed(err, encoding, limit);
    let mut decoder = encoding.decoder(raw).map_err(failed)?;
    let mut buf = vec![0; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match decoder.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(failed(err)),
        };
        total += n as u64;
        if total > limit {
            return Err(FetchError::TooLarge(limit));
        }
        into.write_all(&buf[..n])
            .map_err(|err| FetchError::Store(format!("writing the file: {err}")))?;
    }
}

/// What a read error of a body (`encoding`, at most `limit` bytes) means for the request.
fn read_failed(err: std::io::Error, encoding: ContentEncoding, limit: u64) -> FetchError {
    // The client's own errors (a timeout, a connection cut, the wire limit) travel inside the
    // io::Error; whatever else the decoder says is about the bytes the server sent.
    let decoding = matches!(
        err.kind(),
        std::io::ErrorKind::InvalidData | std::io::ErrorKind::InvalidInput
    ) && err.get_ref().is_none_or(|inner| !inner.is::<ureq::Error>());
    if decoding && encoding != ContentEncoding::Identity {
        FetchError::Encoding(format!("the body is not valid {}: {err}", encoding.name()))
    } else {
        FetchError::from_ureq(ureq::Error::from(err), limit)
    }
}

/// Reads the body from `raw` into `into` (emptied first; a buffer from the body pool), decoded
/// from `encoding`, failing once the decoded body passes `limit` bytes. `expected` is the
/// body's `Content-Length` when the server sent one.
pub fn read_decoded(
    raw: impl Read,
    encoding: ContentEncoding,
    limit: u64,
    expected: Option<u64>,
    into: &mut Vec<u8>,
) -> Result<(), FetchError> {
    into.clear();
    // Room for exactly the announced length (never past the limit), when nothing is to be
    // decoded: `read_to_end` would otherwise double the buffer past the body (a 78 KB page
    // left a 128 KiB buffer, zero-filled by the reads, each kept by the body pool) and, past
    // 128 KiB, glibc maps and unmaps every such buffer. A wrong length costs nothing: the
    // read goes on to the end as before.
    if let (ContentEncoding::Identity, Some(length)) = (encoding, expected) {
        into.reserve_exact(usize::try_from(length.min(limit)).unwrap_or(usize::MAX));
    }
    let failed = |err: std::io::Error| read_failed(err, encoding, limit);
    let decoder = encoding.decoder(raw).map_err(failed)?;
    // One byte past the limit tells a body of exactly `limit` bytes from a larger one.
    decoder
        .take(limit.saturating_add(1))
        .read_to_end(into)
        .map_err(failed)?;
    if into.len() as u64 > limit {
        return Err(FetchError::TooLarge(limit));
    }
    Ok(())
}

/// Decodes a body to text: the charset of the Content-Type header, else a byte-order mark, else a
/// `<meta>` declaration in the first 1024 bytes, else UTF-8. Bytes invalid in that charset become
/// U+FFFD; this never fails.
pub fn decode_body(bytes: Vec<u8>, content_type: Option<&str>) -> String {
    let declared = content_type
        .and_then(charset_param)
        .and_then(|label| Encoding::for_label(label.as_bytes()));
    let encoding = declared
        .or_else(|| Encoding::for_bom(&bytes).map(|(encoding, _)| encoding))
        .or_else(|| meta_charset(&bytes[..bytes.len().min(1024)]))
        .unwrap_or(encoding_rs::UTF_8);
    if encoding == encoding_rs::UTF_8 {
        // The common case: no copy when the bytes are valid. simdutf8 checks them several
        // times faster than `String::from_utf8` once a page has non-ASCII text.
        if simdutf8::basic::from_utf8(&bytes).is_err() {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        // SAFETY: simdutf8 has just found `bytes` to be valid UTF-8.
        return unsafe { String::from_utf8_unchecked(bytes) };
    }
    encoding.decode(&bytes).0.into_owned()
}

/// The `charset=` parameter of a Content-Type value.
fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// The charset named by `<meta charset=…>` or `<meta http-equiv … content="…; charset=…">`.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("<meta") {
        rest = &rest[at + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(pos) = tag.find("charset=") {
            let value = tag[pos + 8..].trim_start_matches(['"', '\'']);
            let end = value
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(value.len());
            if let Some(encoding) = Encoding::for_label(&value.as_bytes()[..end]) {
                return Some(encoding);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const PAGE: &[u8] = b"<html><body><div class=pl2><a href=/1>one</a></div></body></html>";

    fn decoded(encoding: ContentEncoding, wire: &[u8], limit: u64) -> Result<Vec<u8>, String> {
        let mut out = vec![b'x'; 3];
        read_decoded(wire, encoding, limit, None, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// A body read to its announced length keeps a buffer of that length (it was
    /// doubled past the body before, 128 KiB for a 78 KB page); a wrong length still reads the
    /// whole body, and a length past the limit reserves no more than the limit.
    #[test]
    fn content_length_sizes_the_body_buffer() {
        let body = vec![b'a'; 78_000];
        let mut out = Vec::new();
        read_decoded(
            &body[..],
            ContentEncoding::Identity,
            1 << 20,
            Some(78_000),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, body);
        assert_eq!(out.capacity(), 78_000);

        let mut out = Vec::new();
        read_decoded(
            &body[..],
            ContentEncoding::Identity,
            1 << 20,
            Some(10),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, body, "a short Content-Length does not cut the body");

        let mut out = Vec::new();
        read_decoded(
            &b"tiny"[..],
            ContentEncoding::Identity,
            4096,
            Some(1 << 40),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"tiny");
        assert!(out.capacity() <= 4096, "{}", out.capacity());
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn bare_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn brotli(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
        drop(w);
        out
    }

    #[test]
    fn each_encoding_asked_for_is_decoded() {
        use ContentEncoding::*;
        for (encoding, wire) in [
            (Identity, PAGE.to_vec()),
            (Gzip, gzip(PAGE)),
            (Deflate, zlib(PAGE)),
            (Deflate, bare_deflate(PAGE)),
            (Brotli, brotli(PAGE)),
        ] {
            assert_eq!(
                decoded(encoding, &wire, 1 << 20).unwrap(),
                PAGE,
                "{encoding:?}"
            );
        }
        // Two gzip members make one body, as `cat a.gz b.gz` does.
        let mut two = gzip(b"<p>a</p>");
        two.extend(gzip(b"<p>b</p>"));
        assert_eq!(decoded(Gzip, &two, 100).unwrap(), b"<p>a</p><p>b</p>");
    }

    #[test]
    fn the_limit_applies_after_decoding() {
        use ContentEncoding::*;
        let filler = vec![b'z'; 1 << 20];
        for (encoding, wire) in [
            (Identity, filler.clone()),
            (Gzip, gzip(&filler)),
            (Deflate, zlib(&filler)),
            (Deflate, bare_deflate(&filler)),
            (Brotli, brotli(&filler)),
        ] {
            let limit = 64 * 1024;
            assert!(
                encoding == Identity || wire.len() < 8 * 1024,
                "{encoding:?}"
            );
            let err = decoded(encoding, &wire, limit).unwrap_err();
            assert!(
                err.contains("larger than http.max_body_bytes"),
                "{encoding:?}: {err}"
            );
            // Exactly at the limit is fine.
            let exact = &filler[..limit as usize];
            let wire = match encoding {
                Identity => exact.to_vec(),
                Gzip => gzip(exact),
                Deflate => zlib(exact),
                Brotli => brotli(exact),
            };
            assert_eq!(decoded(encoding, &wire, limit).unwrap().len(), exact.len());
        }
    }

    #[test]
    fn encodings_not_asked_for_and_corrupt_bodies_fail_with_a_reason() {
        for header in ["zstd", "compress", "gzip, br", "chunked"] {
            let err = ContentEncoding::of(Some(header)).unwrap_err().to_string();
            assert!(err.contains("was not asked for"), "{header}: {err}");
        }
        assert_eq!(
            ContentEncoding::of(Some(" GZIP ")).unwrap(),
            ContentEncoding::Gzip
        );
        assert_eq!(
            ContentEncoding::of(None).unwrap(),
            ContentEncoding::Identity
        );
        for encoding in [
            ContentEncoding::Gzip,
            ContentEncoding::Deflate,
            ContentEncoding::Brotli,
        ] {
            let err = decoded(encoding, b"\xff\xfe<html> not compressed at all", 100).unwrap_err();
            assert!(err.contains("the body is not valid"), "{encoding:?}: {err}");
        }
    }

    #[test]
    fn bodies_are_decoded_from_their_charset() {
        let text = "<p>红楼梦 第1卷</p>";
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        let gbk = gbk.into_owned();
        assert_eq!(
            decode_body(gbk.clone(), Some("text/html; charset=GBK")),
            text
        );
        assert_eq!(
            decode_body(gbk.clone(), Some("text/html; charset=\"gbk\"")),
            text
        );
        let mut with_meta = b"<html><head><meta charset='gb18030'></head>".to_vec();
        with_meta.extend_from_slice(&gbk);
        assert!(decode_body(with_meta, Some("text/html")).ends_with(text));
        let mut http_equiv =
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=gbk\">".to_vec();
        http_equiv.extend_from_slice(&gbk);
        assert!(decode_body(http_equiv, None).ends_with(text));
        let mut bom = vec![0xef, 0xbb, 0xbf];
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(
            decode_body(bom, Some("text/html; charset=iso-8859-1")),
            text
        );
        // Invalid UTF-8 never fails: the bad bytes become replacement characters.
        assert_eq!(decode_body(vec![b'a', 0xff, b'b'], None), "a\u{fffd}b");
        assert_eq!(
            decode_body(b"plain".to_vec(), Some("text/html; charset=nonsense")),
            "plain"
        );
    }
}
