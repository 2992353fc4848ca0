//! On-call: the model of who is on call (rotations, overrides, escalation policies) and the rotation file.
//! Where the data lives is [`crate::store`]'s.

pub mod file;
pub mod model;
