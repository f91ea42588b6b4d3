//! The binary's concerns: the service loop, its status and metrics endpoint, the progress bar
//! and the demo command.

pub mod demo;
pub mod endpoint;
pub mod progress;
pub mod service;
pub mod status;
pub mod watch;
