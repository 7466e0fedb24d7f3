//! Errors of projectors.

use ordo_ledger::LedgerError;

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    /// PostgreSQL failed; the batch rolled back and will be retried.
    #[error("read-model database error during {operation}")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The checkpoint is not where this projector left it: another instance
    /// or a rebuild moved it. The projector resumes from where it is now.
    #[error("checkpoint moved from {expected} to {found}")]
    CheckpointMoved { expected: u64, found: u64 },
    /// An event that the projection cannot apply: its data does not decode or
    /// it does not follow the stored version. A person must look at it.
    #[error("cannot apply event at position {position}: {reason}")]
    Unapplicable { position: u64, reason: String },
    /// A process step could not finish now (the state kept changing under
    /// it); the batch is retried.
    #[error("process step {step} could not finish: {reason}")]
    StepStalled { step: String, reason: String },
}

impl ProjectionError {
    pub(crate) fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database { operation, source }
    }

    /// Whether retrying the same batch later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database { .. } | Self::CheckpointMoved { .. } | Self::StepStalled { .. } => true,
            Self::Ledger(LedgerError::Unavailable { .. } | LedgerError::Conflict { .. }) => true,
            Self::Ledger(_) | Self::Unapplicable { .. } => false,
        }
    }
}
