//! On-call: the model of who is on call, the rotation file, and the stores that keep them.

pub mod cache;
pub mod file;
pub mod memory;
pub mod model;
pub mod redis_store;
pub mod store;
