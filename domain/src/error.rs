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

/// An adapter's error text as a chat reply may show it: absolute filesystem paths (the bot's data
/// directory, a Semaphore server's working directories, a certificate file) become `[path]`, so
/// nobody in a room learns how the machines behind the bot are laid out. A path is a `/` and two
/// or more segments after a space, a quote, a bracket or `=`; URLs, `1/4` and `/help` stay.
pub(crate) fn without_paths(text: &str) -> std::borrow::Cow<'_, str> {
    static PATH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        // A literal pattern, compiled by the test below: cannot fail.
        #[allow(clippy::expect_used)]
        regex::Regex::new(r#"(^|[\s"'(\[=<`])~?(?:/[\w.+@%~-]+){2,}/?"#).expect("the path pattern is valid")
    });
    if !text.contains('/') {
        return std::borrow::Cow::Borrowed(text);
    }
    PATH.replace_all(text, "${1}[path]")
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

#[cfg(test)]
mod tests {
    use super::without_paths;

    #[test]
    fn filesystem_paths_leave_error_texts_and_nothing_else_does() {
        let cases = [
            (
                "cannot open /var/lib/chatrixcd/chatrixcd.redb: permission denied",
                "cannot open [path]: permission denied",
            ),
            ("open '/tmp/semaphore/repository_1_2/deploy.yml' failed", "open '[path]' failed"),
            ("file=/etc/ssl/private/key.pem (os error 13)", "file=[path] (os error 13)"),
            ("/home/bot/.config/x is missing", "[path] is missing"),
            ("in ~/store/matrix/session.json", "in [path]"),
            ("https://semaphore.example.org/api/project/1/tasks", "https://semaphore.example.org/api/project/1/tasks"),
            ("question 1/4 and/or success/error", "question 1/4 and/or success/error"),
            ("type /help or /react", "type /help or /react"),
        ];
        for (text, want) in cases {
            assert_eq!(without_paths(text), want, "{text}");
        }
        assert!(matches!(without_paths("no slash here"), std::borrow::Cow::Borrowed(_)));
    }
}
