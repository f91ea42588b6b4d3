//! HTTP: the client the crawlers share, body decoding, and the address policy.

pub mod body;
pub mod client;
pub mod policy;
