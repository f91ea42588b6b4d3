//! The main server: hyper on a small tokio runtime of its own, keep-alive, any number of
//! connections, each request answered as [`Shared::reply`] decides, after the site's latency.

use std::convert::Infallible;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use log::{debug, warn};
use tokio::sync::watch;

use crate::pages::render_error;
use crate::reply::{Ask, Reply, SeenRequest, Shared};

/// What turns an accepted connection into HTTPS (feature `tls`).
#[cfg(feature = "tls")]
pub(crate) type Acceptor = tokio_rustls::TlsAcceptor;
/// Without the `tls` feature there is none, and no value of this type.
#[cfg(not(feature = "tls"))]
pub(crate) type Acceptor = Infallible;

/// Starts the main server on every listener (the site's own port and the second host's; or,
/// with `tls`, the HTTPS one): hyper on a two-thread tokio runtime, on a thread of its own.
pub(crate) fn spawn_main(
    listeners: Vec<TcpListener>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    tls: Option<Acceptor>,
) -> io::Result<JoinHandle<()>> {
    for listener in &listeners {
        listener.set_nonblocking(true)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("demo-site-io")
        .enable_io()
        .enable_time()
        .build()?;
    thread::Builder::new()
        .name("demo-site-main".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut servers = tokio::task::JoinSet::new();
                for listener in listeners {
                    let (shared, stop, tls) = (Arc::clone(&shared), stop.clone(), tls.clone());
                    servers.spawn(serve_main(listener, shared, stop, tls));
                }
                while servers.join_next().await.is_some() {}
            });
            // Cancels every connection task, stalled ones included, without waiting for them.
            runtime.shutdown_background();
        })
}

/// Accepts connections until `stop` turns `true`, one task each.
async fn serve_main(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    tls: Option<Acceptor>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(err) => {
            warn!("demo site: the main server cannot use its listener: {err}");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stopped| *stopped) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                warn!("demo site: accept: {err}");
                // A short pause so that, say, EMFILE cannot spin a core.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // A response goes out as head then body; Nagle's algorithm and the client's delayed
        // ACK could otherwise hold the last segment back for 40 ms.
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(TokioIo::new(stream), shared, stop).await,
                #[cfg(feature = "tls")]
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => serve_connection(TokioIo::new(stream), shared, stop).await,
                    // A client that refuses our certificate hangs up here: the tests' point.
                    Err(err) => debug!("demo site: TLS handshake: {err}"),
                },
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
        });
    }
}

/// Serves the requests of one connection (plain or TLS).
async fn serve_connection<I>(io: I, shared: Arc<Shared>, stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = service_fn(move |request| answer(request, Arc::clone(&shared), stop.clone()));
    if let Err(err) = http1::Builder::new().serve_connection(io, service).await {
        // Clients time out and hang up, which is their right.
        debug!("demo site: main connection: {err}");
    }
}

/// Waits until `deadline`, to within a few tens of microseconds. tokio's timer counts whole
/// milliseconds and rounds up, so a 50 ms sleep alone answers in about 51.5 ms, and the site
/// would be slower than its `latency` says: the last stretch is slept on a blocking thread,
/// whose sleep is precise.
async fn wait_until(deadline: std::time::Instant) {
    const TIMER_SLACK: Duration = Duration::from_millis(2);
    if let Some(coarse) = deadline.checked_sub(TIMER_SLACK) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !left.is_zero() {
            thread::sleep(left);
        }
    })
    .await;
}

/// One request being answered, counted in `in_flight` until dropped.
struct InFlight<'a> {
    /// The counters.
    shared: &'a Shared,
}

impl<'a> InFlight<'a> {
    fn new(shared: &'a Shared) -> InFlight<'a> {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight { shared }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers one request on the main server.
async fn answer(
    request: hyper::Request<hyper::body::Incoming>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let arrived = std::time::Instant::now();
    let _answering = InFlight::new(&shared);
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    shared.record(SeenRequest {
        at: arrived,
        target: target.to_string(),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect(),
    });
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ask = Ask {
        if_none_match: header("if-none-match"),
        if_modified_since: header("if-modified-since"),
        referer: header("referer"),
    };
    let (status, body, headers) = match shared.reply(target, &ask) {
        Reply::Full {
            status,
            body,
            headers,
        } => (status, body, headers),
        // Only the raw server damages pages; this one serves them whole.
        Reply::Damaged { body, .. } => (200, body, Vec::new()),
        Reply::Stall => {
            // Held until the site is dropped, when the runtime closes the connection unanswered.
            let _ = stop.wait_for(|stopped| *stopped).await;
            (503, render_error(503).into_bytes(), Vec::new())
        }
    };
    let latency = shared.latency_of(target);
    if !latency.is_zero() {
        tokio::select! {
            () = wait_until(arrived + latency) => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
    }
    let mut response = hyper::Response::builder().status(status);
    if !headers.iter().any(|(name, _)| *name == "Content-Type") {
        response = response.header("Content-Type", "text/html; charset=utf-8");
    }
    for (name, value) in headers {
        response = response.header(name, value);
    }
    // Status codes and header values come from tests and this module; a bad one is a bug.
    Ok(response
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}
