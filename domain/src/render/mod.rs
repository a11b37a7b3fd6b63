//! Turning text into Matrix messages: HTML escaping, ANSI colours, replies with a plain fallback.

pub mod ansi;
pub mod html;
