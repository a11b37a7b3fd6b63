//! Semaphore's list answers (a task's whole output among them) are split as they arrive: any
//! bytes, cut into chunks anywhere, give items or a clear error, never a panic, and the same
//! items whatever the chunk size.
#![no_main]

use chatrixcd_semaphore::list::ListSplitter;
use libfuzzer_sys::fuzz_target;

fn split(body: &[u8], size: usize) -> Result<Vec<serde_json::Value>, String> {
    let mut splitter = ListSplitter::default();
    let mut items = Vec::new();
    for chunk in body.chunks(size) {
        splitter.feed(chunk, |item| items.push(item)).map_err(|e| e.to_string())?;
    }
    splitter.finish().map_err(|e| e.to_string())?;
    Ok(items)
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, body)) = data.split_first() else { return };
    let chunked = split(body, usize::from(size).max(1));
    let whole = split(body, body.len().max(1));
    assert_eq!(chunked.is_ok(), whole.is_ok(), "chunking changed the verdict");
    if let (Ok(a), Ok(b)) = (chunked, whole) {
        assert_eq!(a, b, "chunking changed the items");
    }
});
