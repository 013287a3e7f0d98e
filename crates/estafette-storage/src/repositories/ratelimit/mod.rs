//! Rate limits: token buckets shared by every process of a server.

mod buckets;

pub use buckets::RateLimitRepository;
