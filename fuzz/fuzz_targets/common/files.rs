//! What the configuration targets may let the checks read: a configuration names files (tokens,
//! keys, certificates, messages) and the checks read them, so an input naming a device, a FIFO
//! or something under `/proc` could block or read without end. Such inputs are skipped.

use std::path::Path;

use serde_json::Value;

/// Whether every string of `text` (HJSON), read as a path, is harmless to read.
pub fn harmless(text: &str) -> bool {
    chatrixcd_domain::hjson::from_str::<Value>(text).map_or(true, |v| value(&v))
}

/// Whether reading every string of the value as a path is harmless: absent, a directory, or a
/// small regular file outside `/proc`, `/sys` and `/dev`.
fn value(v: &Value) -> bool {
    match v {
        Value::String(s) => [s.as_str(), s.trim()].into_iter().all(path),
        Value::Array(items) => items.iter().all(value),
        Value::Object(map) => map.iter().all(|(k, v)| value(&Value::String(k.clone())) && value(v)),
        _ => true,
    }
}

fn path(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let path = Path::new(text);
    match std::fs::metadata(path) {
        Err(_) => true,
        Ok(meta) if meta.is_dir() => true,
        Ok(meta) if meta.is_file() && meta.len() <= 1 << 20 => {
            path.canonicalize().is_ok_and(|real| !["/proc", "/sys", "/dev"].iter().any(|p| real.starts_with(p)))
        }
        Ok(_) => false,
    }
}
