//! Turning text into Matrix messages: HTML escaping, ANSI colours, replies with a plain fallback.

pub mod ansi;
pub mod ansible;
pub mod chart;
pub mod csv;
pub mod duration;
pub mod html;
pub mod log;
pub mod reply;
pub mod terraform;

pub use reply::Reply;
