//! Why a command could not do its job. Every variant becomes a clear reply.

use chatrixcd_ports::{ChatError, EncryptionError, InstanceId, SemaphoreError, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The input was wrong; the reply shows the usage.
    #[error("{0}")]
    Usage(String),
    /// The input was understood but cannot be honoured (nothing to do, not possible).
    #[error("{0}")]
    Refused(String),
    /// The policy denied it: the text names the missing permission and who can grant it.
    #[error("{0}")]
    Denied(String),
    /// A Semaphore request failed; with several instances the reply names the one that failed
    /// (and that the others are not affected).
    #[error("{error}")]
    Semaphore { instance: Option<InstanceId>, error: SemaphoreError },
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Encryption(#[from] EncryptionError),
}

impl From<SemaphoreError> for CommandError {
    fn from(error: SemaphoreError) -> Self {
        Self::Semaphore { instance: None, error }
    }
}

impl CommandError {
    /// Names the instance a Semaphore failure came from.
    pub fn on(self, instance: InstanceId) -> Self {
        match self {
            Self::Semaphore { error, .. } => Self::Semaphore { instance: Some(instance), error },
            other => other,
        }
    }
}

/// Adds the instance to a Semaphore result's error: `semaphore.projects().await.on(id)?`.
pub(crate) trait OnInstance<T> {
    fn on(self, instance: InstanceId) -> Result<T, CommandError>;
}

impl<T> OnInstance<T> for Result<T, SemaphoreError> {
    fn on(self, instance: InstanceId) -> Result<T, CommandError> {
        self.map_err(|error| CommandError::Semaphore { instance: Some(instance), error })
    }
}
