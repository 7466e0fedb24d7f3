//! Errors of the event log.

/// What can go wrong when talking to the log.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The expected-sequence check failed: someone appended to the aggregate
    /// since we loaded it.
    #[error("append to {subject} conflicted: the aggregate changed since it was loaded")]
    Conflict { subject: String },
    /// NATS could not be reached, or did not answer in time. The outcome of an
    /// append that fails this way is unknown; retry with the same idempotency
    /// key.
    #[error("the event log is unavailable during {operation}")]
    Unavailable {
        operation: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored message that does not parse, or whose hash chain does not hold.
    #[error("corrupt event at {subject} sequence {stream_seq}: {reason}")]
    Corrupt {
        subject: String,
        stream_seq: u64,
        reason: String,
    },
    /// The stream exists with a configuration we cannot accept.
    #[error("stream {stream} is misconfigured: {reason}")]
    Misconfigured { stream: String, reason: String },
}

impl LedgerError {
    pub(crate) fn unavailable(
        operation: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Unavailable {
            operation: operation.into(),
            source: Box::new(source),
        }
    }
}
