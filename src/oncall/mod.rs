//! On-call: the model of who is on call (rotations, overrides, escalation policies), the rotation file, the
//! calendar feeds of shifts and their tokens, and the outside calendars rotations can follow.
//! Where the data lives is [`crate::store`]'s.

pub mod feed_tokens;
pub mod file;
pub mod ical;
pub mod import;
pub mod model;
