//! Presets: a template's run options and variables saved under a name, for `run --preset` and
//! schedules. Secret values are kept only sealed (see [`Sealer`]), never plain.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{InstanceId, ProjectId, RoomId, TemplateId, UserId};

/// Who may use a preset: the room it was saved in, the person who saved it (in any room), or
/// everybody the bot answers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresetScope {
    Room(RoomId),
    User(UserId),
    All,
}

impl PresetScope {
    /// A stable text form, used as part of the store's key: `room:!id`, `user:@id`, `all`.
    pub fn key(&self) -> String {
        match self {
            Self::Room(room) => format!("room:{room}"),
            Self::User(user) => format!("user:{user}"),
            Self::All => "all".to_owned(),
        }
    }
}

/// A saved set of run options for one template. Names are unique within a scope.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preset {
    pub name: String,
    pub scope: PresetScope,
    /// Who saved it.
    pub owner: UserId,
    pub instance: InstanceId,
    pub project: ProjectId,
    pub project_name: String,
    pub template: TemplateId,
    pub template_name: String,
    /// Survey variables that are not secret, `name=value`, in the order given.
    pub vars: Vec<(String, String)>,
    /// Secret survey variables, each value sealed by the bot's [`Sealer`].
    #[serde(default)]
    pub sealed: Vec<(String, String)>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub skip_tags: Vec<String>,
    #[serde(default)]
    pub limit: Vec<String>,
    #[serde(default)]
    pub arguments: Vec<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub diff: bool,
    #[serde(default)]
    pub debug: bool,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Preset {
    // Sealed values are ciphertext, but they stay out of logs all the same.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preset")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("template", &self.template)
            .field("vars", &self.vars)
            .field("sealed", &self.sealed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Seals secret values for storage and opens them again. One key per bot; a value sealed with
/// another key, or changed on disk, does not open.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Sealer: Send + Sync {
    fn seal(&self, plain: &str) -> Result<String, SealError>;
    fn open(&self, sealed: &str) -> Result<String, SealError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("a sealed value could not be opened (another key, or it was changed)")]
    Unreadable,
    #[error("secrets cannot be sealed: {0}")]
    Unavailable(String),
}
