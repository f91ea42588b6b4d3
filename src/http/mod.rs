//! HTTP: the client the crawlers share (retries, redirects, the whole-request deadline), the
//! pacer between request starts, the body buffers and their decoding (content encoding and
//! charset), and the address policy. It knows nothing of pages or stages.

pub(crate) mod body;
mod client;
mod error;
pub(crate) mod policy;
mod pool;
// Not wired in yet: issue 15/16 integrate it.
#[allow(dead_code)]
pub(crate) mod headers;
pub(crate) mod host_list;
pub(crate) mod hosts;
// Not wired in yet: issue 15/16 integrate it.
#[allow(dead_code)]
pub(crate) mod robots;

pub(crate) use client::Client;
pub(crate) use error::FetchError;
pub(crate) use pool::BodyPool;
