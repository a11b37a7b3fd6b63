//! Turning text into Matrix messages: HTML escaping, ANSI colours, replies with a plain fallback.

pub mod ansi;
pub mod duration;
pub mod html;
pub mod reply;

pub use reply::Reply;
