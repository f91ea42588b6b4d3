//! HTTP: the client every stage that sends requests shares (retries, redirects, the
//! whole-request deadline, the config's extra headers, downloads into a file), per-host slots
//! and pacing (`hosts.rs`), the body buffers and their decoding (content encoding and
//! charset), the address policy, robots.txt, and TLS (the roots trusted, certificate errors in
//! words). It knows nothing of pages or stages.

pub(crate) mod body;
mod client;
mod conditional;
mod error;
pub(crate) mod hosts;
pub(crate) mod policy;
mod pool;
pub(crate) mod robots;
pub(crate) mod tls;

pub(crate) use client::{Answer, Client, Response};
pub use conditional::{PageValidators, Validators};
pub use error::FetchError;
pub use hosts::Wanted;
pub(crate) use pool::BodyPool;
