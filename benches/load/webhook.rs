//! One webhook as the driver posts it, recorded by the provider and replayed by the phases.

/// One webhook as posted: the label its latency is filed under, its URL and its fields.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    pub(crate) label: String,
    pub(crate) url: String,
    pub(crate) params: Vec<(String, String)>,
}
