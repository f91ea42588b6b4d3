//! The hostile server: a raw `std::net` socket, one request per connection, one thread each, that
//! can cut a body short, trickle it, send megabytes of headers or never answer: the faults an HTTP
//! library will not produce.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::Duration;

use log::{debug, warn};

use crate::pages::{reason_phrase, render_error};
use crate::reply::{Ask, Damage, Reply, Shared};

/// How long a connection may wait for a client's bytes (or for it to take ours). Longer than
/// any crawler keeps an idle pooled connection (ureq: 15 s), so the site never closes one that
/// a client is about to reuse; finite, so a silent client cannot pin a thread forever.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Request heads larger than this are refused; real GET heads are far smaller.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The parts of a request head the site looks at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RequestHead<'a> {
    /// `HEAD` gets headers only.
    pub(crate) method: &'a str,
    /// The path and query, such as `/top250?start=25`.
    pub(crate) target: &'a str,
}

/// The raw server's accept loop, until the site is dropped: one detached thread per connection.
pub(crate) fn accept_raw(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        match conn {
            Ok(stream) => {
                let shared = Arc::clone(shared);
                let spawned = thread::Builder::new()
                    .name("demo-site-raw-conn".into())
                    .spawn(move || serve_raw(stream, &shared));
                if let Err(err) = spawned {
                    // The connection is dropped with the closure; the client sees it closed.
                    warn!("demo site: no thread for a raw connection: {err}");
                }
            }
            Err(err) => {
                warn!("demo site: raw accept: {err}");
                // A short pause (ended early by a drop) so that, say, EMFILE cannot spin a core.
                let _ = shared.stop.recv_timeout(Duration::from_millis(10));
            }
        }
    }
}

/// Serves one request on a raw connection, then closes it.
fn serve_raw(mut stream: TcpStream, shared: &Shared) {
    if let Err(err) = answer_raw(&mut stream, shared) {
        // Clients time out and hang up, which is their right; nothing to report above debug.
        debug!("demo site: raw connection: {err}");
    }
    // Write side only: closing with unread request bytes would make the kernel send RST, which
    // can destroy a response before the client reads it.
    let _ = stream.shutdown(Shutdown::Write);
}

/// Reads one request and answers it with `Connection: close`, misbehaving as the page's fault
/// says.
fn answer_raw(stream: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let slot = shared.take_slot();
    let mut pending = Vec::new();
    let Some(head) = read_head(stream, &mut pending)? else {
        return Ok(());
    };
    if shared.stopping.load(Ordering::SeqCst) {
        // The site is gone; closing unanswered is what a stopped server looks like.
        return Ok(());
    }
    let Some(request) = parse_head(&head) else {
        let body = render_error(400);
        return Response::full(400, &[], body.as_bytes()).write(stream, false);
    };
    let head_only = request.method == "HEAD";
    if slot.is_none() {
        shared.total.fetch_add(1, Ordering::SeqCst);
        let body = render_error(503);
        let headers = [("Retry-After", "1".to_string())];
        return Response::full(503, &headers, body.as_bytes()).write(stream, head_only);
    }
    // The hostile server answers whole: it is for faults, not for conditional requests.
    match shared.reply(request.target, &Ask::default()) {
        Reply::Full {
            status,
            body,
            headers,
        } => {
            shared.wait_latency(request.target);
            Response::full(status, &headers, &body).write(stream, head_only)
        }
        Reply::Damaged { body, damage } => {
            shared.wait_latency(request.target);
            let mut response = Response::full(200, &[], &body);
            match damage {
                // Cut at a byte, not a char: a broken UTF-8 sequence is part of the damage.
                Damage::Truncate => response.body = &body[..body.len() / 2],
                Damage::Trickle => response.trickle = true,
                Damage::HugeHeaders(bytes) => response.junk_headers = bytes,
            }
            response.write(stream, head_only)
        }
        Reply::Stall => {
            shared.wait_for_stop();
            Ok(())
        }
    }
}

/// A response about to be written by the raw server.
pub(crate) struct Response<'a> {
    /// The HTTP status code.
    status: u16,
    /// Extra headers; a `Content-Type` among them replaces the default.
    headers: &'a [(&'static str, String)],
    /// The body bytes actually sent.
    body: &'a [u8],
    /// The announced length; larger than `body` only for a truncation.
    content_length: usize,
    /// Send the body one byte every 50 ms.
    trickle: bool,
    /// Bytes of junk headers to send before the real ones.
    junk_headers: usize,
}

impl<'a> Response<'a> {
    /// A response that sends all of `body`.
    fn full(status: u16, headers: &'a [(&'static str, String)], body: &'a [u8]) -> Response<'a> {
        Response {
            status,
            headers,
            body,
            content_length: body.len(),
            trickle: false,
            junk_headers: 0,
        }
    }

    /// Writes the response, always with `Connection: close`; the body is left out for `HEAD`.
    fn write(&self, stream: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = String::with_capacity(256 + self.junk_headers);
        let _ = write!(
            head,
            "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            reason_phrase(self.status),
            self.content_length,
        );
        if !self.headers.iter().any(|(name, _)| *name == "Content-Type") {
            head.push_str("Content-Type: text/html; charset=utf-8\r\n");
        }
        for (name, value) in self.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        let mut n = 0;
        while head.len() < self.junk_headers {
            let _ = write!(head, "X-Junk-{n}: {}\r\n", "j".repeat(1000));
            n += 1;
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if head_only {
            return stream.flush();
        }
        if self.trickle {
            for byte in self.body {
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
                thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        stream.write_all(self.body)?;
        stream.flush()
    }
}

/// Reads the next request head, up to its blank line, keeping any bytes after it in `pending`
/// for the next call. `None` if the client closed the connection first.
pub(crate) fn read_head(
    stream: &mut impl Read,
    pending: &mut Vec<u8>,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = pending.split_off(end + 4);
            let mut head = std::mem::replace(pending, rest);
            head.truncate(end);
            return Ok(Some(head));
        }
        if pending.len() > MAX_HEAD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head over 16 KiB",
            ));
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        pending.extend_from_slice(&buf[..n]);
    }
}

/// Parses a request head (without its blank line). `None` if it is not HTTP/1.x.
pub(crate) fn parse_head(head: &[u8]) -> Option<RequestHead<'_>> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return None;
    }
    Some(RequestHead { method, target })
}
