//! What a crawl keeps on disk: the journal, the seen-set, the owner lock.

pub mod journal;
pub mod owner;
pub mod recovery;
pub mod resume;
pub mod seen;
mod verify;
