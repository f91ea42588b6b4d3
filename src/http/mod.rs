//! HTTP: the client the crawlers share (retries, redirects, the whole-request deadline), the
//! pacer between request starts, the body buffers and their decoding (content encoding and
//! charset), and the address policy. It knows nothing of pages or stages.

pub(crate) mod body;
mod client;
mod error;
mod pacer;
pub(crate) mod policy;
mod pool;

pub(crate) use client::Client;
pub(crate) use error::FetchError;
pub(crate) use pool::BodyPool;
