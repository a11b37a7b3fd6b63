//! A task's output, as Semaphore's entries arrive, is packed into blocks: any entries give back,
//! line for line, what splitting them gives, read all at once, a range at a time or one line at
//! a time.
#![no_main]

use chatrixcd_ports::semaphore::TaskLog;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Entries are cut at NUL bytes, so the fuzzer controls where each one ends.
    let entries: Vec<&str> = text.split('\0').collect();
    let Ok(log) = TaskLog::from_entries(&entries) else { return };
    let mut expected = Vec::new();
    for entry in &entries {
        let body = entry.strip_suffix('\n').unwrap_or(entry);
        expected.extend(body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)));
    }
    assert_eq!(log.len(), expected.len());
    let mut read = Vec::new();
    log.each_line(0..log.len(), &mut |n, line| read.push((n, line.to_owned())));
    assert!(read.iter().map(|(_, l)| l.as_str()).eq(expected.iter().copied()), "lines changed by packing");
    let from = data.len() % (expected.len() + 1);
    log.each_line(from..from + 3, &mut |n, line| assert_eq!(line, expected[n]));
    for (n, line) in expected.iter().enumerate().step_by(7) {
        assert_eq!(log.line(n).as_deref(), Some(*line));
    }
});
