//! On-call: the model of who is on call (rotations, overrides, escalation policies), the rotation file and
//! the calendar feeds of shifts.
//! Where the data lives is [`crate::store`]'s.

pub mod feed_tokens;
pub mod file;
pub mod ical;
pub mod import;
pub mod model;
