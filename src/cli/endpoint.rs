//! The HTTP server of `/metrics` and `/healthz` (`service.listen`): hyper on a one-thread tokio
//! runtime of its own, built so that no client can deny it to the others.
//!
//! - Each connection is a task of its own, so a client that pipelines requests and never reads
//!   the answers stalls only itself; and every connection serves one request and closes
//!   (`Connection: close`), within [`CONNECTION_DEADLINE`] whatever the client does.
//! - A request head must arrive within [`HEAD_TIMEOUT`] and fit in [`MAX_HEAD_BYTES`]; a larger
//!   one is refused (431) without being read further, never buffered whole.
//! - At most [`MAX_CONNECTIONS`] connections are open. When a new one arrives at the cap, or the
//!   process runs out of file descriptors, the oldest connection that has not sent a whole
//!   request yet is closed to make room: idle sockets cannot crowd out a scrape. When none is
//!   idle the new connection is closed at once.
//! - The accept loop survives `EMFILE`/`ENFILE`: it logs once, makes room as above or waits a
//!   moment, and goes on accepting.
//!
//! It reads the service's [`Status`] and never changes it. Its runtime is separate from the crawl
//! (whose threads are synchronous): a later build may leave this module out behind a feature.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use log::{debug, warn};
use tokio::sync::{Notify, watch};

use super::status::Status;

/// The most connections open at once.
pub const MAX_CONNECTIONS: usize = 64;
/// The longest request head accepted, in bytes (hyper's smallest buffer).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may stay open, whatever it does.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// How long to wait before accepting again when out of file descriptors with nothing to close.
const FD_BACKOFF: Duration = Duration::from_millis(100);

/// The running endpoint; dropping it stops it and closes every connection.
pub struct Endpoint {
    /// Where it listens.
    addr: SocketAddr,
    /// Set to `true` on drop: the accept loop ends and the runtime, with every connection, goes.
    stop: watch::Sender<bool>,
    /// The thread running the runtime.
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Binds `addr` (the `service.listen` setting) and serves `status` on a thread of its own.
    pub fn start(addr: SocketAddr, status: Arc<Status>) -> Result<Endpoint> {
        let bound = || format!("binding service.listen {addr} for /metrics and /healthz");
        let listener = TcpListener::bind(addr).with_context(bound)?;
        listener.set_nonblocking(true).with_context(bound)?;
        let addr = listener.local_addr().with_context(bound)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("starting the metrics endpoint's runtime")?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("endpoint".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, status, stopped));
                // Dropping the runtime cancels every connection task.
            })
            .context("spawning the metrics endpoint thread")?;
        Ok(Endpoint {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            warn!("the metrics endpoint thread panicked");
        }
    }
}

/// One open connection, as the accept loop sees it.
#[derive(Debug)]
struct Conn {
    /// Tells connections apart in [`Live`].
    id: u64,
    /// Set once its request head has arrived: from then on it is answered, not evicted.
    asked: AtomicBool,
    /// Notified to close it, to make room for another.
    evict: Notify,
}

/// The open connections, oldest first.
#[derive(Debug, Default)]
struct Live {
    conns: Mutex<VecDeque<Arc<Conn>>>,
    next_id: AtomicU64,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection, making room if the cap is reached; `None` if there is none.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut conns = self.lock();
        if conns.len() >= MAX_CONNECTIONS && !evict_oldest_idle(&mut conns) {
            return None;
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            asked: AtomicBool::new(false),
            evict: Notify::new(),
        });
        conns.push_back(Arc::clone(&conn));
        Some(conn)
    }

    /// Closes the oldest idle connection, if any, to free its file descriptor.
    fn evict_idle(&self) -> bool {
        evict_oldest_idle(&mut self.lock())
    }

    fn remove(&self, id: u64) {
        self.lock().retain(|conn| conn.id != id);
    }
}

/// Tells the oldest connection that has not sent a whole request to close, and forgets it.
fn evict_oldest_idle(conns: &mut VecDeque<Arc<Conn>>) -> bool {
    let Some(at) = conns.iter().position(|c| !c.asked.load(Ordering::SeqCst)) else {
        return false;
    };
    if let Some(conn) = conns.remove(at) {
        // Stored if the task is not waiting yet: it closes as soon as it looks.
        conn.evict.notify_one();
    }
    true
}

/// Whether `err` says the process (or the system) has no file descriptor left.
fn out_of_fds(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Accepts connections until `stop` turns `true`, one task each.
async fn accept_loop(listener: TcpListener, status: Arc<Status>, mut stop: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            warn!("metrics endpoint: cannot use its listener: {err}");
            return;
        }
    };
    let live = Arc::new(Live::default());
    // Out of file descriptors is logged once per episode, not once per connection.
    let mut starved = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                starved = false;
                let Some(conn) = live.admit() else {
                    debug!("metrics endpoint: {MAX_CONNECTIONS} connections busy, closing {peer}");
                    continue;
                };
                let (live, status) = (Arc::clone(&live), Arc::clone(&status));
                tokio::spawn(async move {
                    serve(stream, &conn, status).await;
                    live.remove(conn.id);
                });
            }
            Err(err) if out_of_fds(&err) => {
                if !starved {
                    warn!(
                        "metrics endpoint: out of file descriptors ({err}); closing idle \
                         connections to make room"
                    );
                    starved = true;
                }
                if live.evict_idle() {
                    // Lets the evicted connection's task run and close its socket.
                    tokio::task::yield_now().await;
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(FD_BACKOFF) => {}
                        _ = stop.wait_for(|stopped| *stopped) => return,
                    }
                }
            }
            // A connection reset before it was accepted, and the like: that client's problem.
            Err(err) => debug!("metrics endpoint: accept: {err}"),
        }
    }
}

/// Serves one request on `stream`, then closes it; sooner if evicted or past its deadline.
async fn serve(stream: tokio::net::TcpStream, conn: &Conn, status: Arc<Status>) {
    let service = service_fn(|request: Request<hyper::body::Incoming>| {
        conn.asked.store(true, Ordering::SeqCst);
        let response = respond(&status, request.method(), request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        served = tokio::time::timeout(CONNECTION_DEADLINE, connection) => match served {
            Ok(Ok(())) => {}
            // A client that hangs up, sends garbage or too large a head: its own loss.
            Ok(Err(err)) => debug!("metrics endpoint: connection: {err}"),
            Err(_) => debug!("metrics endpoint: a connection reached its deadline"),
        },
        () = conn.evict.notified() => debug!("metrics endpoint: closed an idle connection"),
    }
}

/// The answer to `method path`.
fn respond(status: &Arc<Status>, method: &Method, path: &str) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let (code, body, content_type) = match path {
        _ if method != Method::GET && method != Method::HEAD => {
            (405, "only GET and HEAD\n".to_string(), TEXT)
        }
        "/metrics" => (
            200,
            status.encode_metrics(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        "/healthz" => {
            let (code, body) = status.health();
            (code, body, "application/json")
        }
        "/" => {
            let mut body = String::new();
            let _ = writeln!(
                body,
                "pagecrawl {}: see /metrics and /healthz",
                env!("CARGO_PKG_VERSION")
            );
            (200, body, TEXT)
        }
        _ => (
            404,
            "not found: try /metrics or /healthz\n".to_string(),
            TEXT,
        ),
    };
    Response::builder()
        .status(code)
        .header("Content-Type", content_type)
        .body(Full::new(Bytes::from(body)))
        // The status codes and header values above are all valid.
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;
    use pagecrawl::Shutdown;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn answers_once_per_connection_and_evicts_idle_connections_at_the_cap() {
        let status = Status::new(Shutdown::new());
        let endpoint = Endpoint::start("127.0.0.1:0".parse().unwrap(), status).unwrap();
        let addr = endpoint.addr();
        let answer = get(addr, "/healthz");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
        assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
        // Twice the cap of silent connections: the newest ones push the oldest out, and a
        // request still gets through.
        let idle: Vec<TcpStream> = (0..2 * MAX_CONNECTIONS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        assert!(get(addr, "/metrics").contains("pagecrawl_up 1"));
        let mut first = &idle[0];
        first
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 16];
        // Closed by the server (to make room), long before its head timeout would.
        assert_eq!(first.read(&mut buf).unwrap_or(0), 0);
        drop(endpoint);
    }
}
