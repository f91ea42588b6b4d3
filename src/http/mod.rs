//! HTTP: the client the crawlers share (retries, redirects, the whole-request deadline, the
//! config's extra headers), the pacer between request starts, the body buffers and their
//! decoding (content encoding and charset), the address policy, robots.txt, and TLS (the roots
//! trusted, certificate errors in words). It knows nothing of pages or stages.

pub(crate) mod body;
mod client;
mod error;
pub(crate) mod headers;
mod pacer;
pub(crate) mod policy;
mod pool;
pub(crate) mod tls;
// Not wired in yet: issue 15/16 integrate it.
#[allow(dead_code)]
pub(crate) mod host_list;
// Not wired in yet: issue 15/16 integrate it.
#[allow(dead_code)]
pub(crate) mod hosts;
pub(crate) mod robots;

pub(crate) use client::Client;
pub(crate) use error::FetchError;
pub(crate) use pool::BodyPool;
