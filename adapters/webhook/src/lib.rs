//! The bot's HTTP endpoint for pushes (axum, off unless configured).
//!
//! Semaphore has no webhook of its own and signs nothing, but its messenger alerts (Slack,
//! Rocket.Chat, Teams, DingTalk, Gotify) POST to any URL. Pointed at
//! `/hooks/semaphore/<instance>/<format>/<secret>`, each alert becomes a [`TaskEvent::Alert`] on
//! that instance's event stream, the same path the websocket's events take: the watcher then
//! reads the task for the truth. The secret is in the path because Semaphore cannot sign; it
//! is compared in constant time, and the answer (200) is given once the alert is queued, never
//! after anything is posted to chat.
//!
//! Other systems (Gitea, Forgejo, GitHub, GitLab, CI) post to named hooks at `/hooks/<name>`:
//! each delivery is checked (allow list, rate limit, size, then its signature, before any work),
//! rendered by the hook's template and posted to the hook's rooms.
//!
//! Also `GET /healthz` (alive), and, for the addresses in `status_allow` only, `GET /readyz`
//! (ready, as JSON) and `GET /metrics` (Prometheus). What the endpoint refuses, it refuses with
//! a bare status code: nothing an attacker could learn from; each refusal is counted by reason.
//! Connections are served by [`server`], with header timeouts and TLS.

pub mod cidr;
pub mod render;
pub mod verify;

#[cfg(feature = "server")]
mod endpoint;
#[cfg(feature = "server")]
pub mod health;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod run;
#[cfg(feature = "server")]
pub mod server;

pub use cidr::Cidr;
#[cfg(feature = "server")]
pub use endpoint::*;
#[cfg(feature = "server")]
pub use health::{Check, Readiness};
#[cfg(feature = "server")]
pub use metrics::{Kind, Metrics, Outcome};
pub use render::Renderer;
#[cfg(feature = "server")]
pub use run::RunConfig;
#[cfg(feature = "server")]
pub use server::{Limits, Tls};
pub use verify::Verify;

/// The shortest secret accepted (alerts' and hooks'): 128 bits, written in hex (the sparsest
/// usual alphabet).
pub const MIN_SECRET_CHARS: usize = 32;
