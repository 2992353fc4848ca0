//! One webhook as the driver posts it, recorded by the provider (with the shape of its answer) and replayed by
//! the phases.

/// One webhook as posted: the label its latency is filed under, its URL and its fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Webhook {
    pub(crate) label: String,
    pub(crate) url: String,
    pub(crate) params: Vec<(String, String)>,
    /// The shape of the server's answer when the webhook was recorded ([`crate::twiml::shape`]; empty when
    /// not known): a replay of it must take the same path and so answer the same verbs.
    pub(crate) answer: Vec<&'static str>,
}
