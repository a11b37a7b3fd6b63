//! A task's output as the domain reads it: its lines, in order, packed.
//!
//! Semaphore sends output as a list of entries, one per line printed, each with its own time.
//! Held as one `String` per line, a chatty task's log costs more in per-line overhead (24 bytes,
//! an allocation, the time) than in text: a 100 MB log of short lines became 234 MB. Held as one
//! text it still costs its own size, and `logs` must answer for a log of any size in a bounded
//! amount of memory. So the text is kept in blocks of about 64 KiB, each compressed with LZ4 as it
//! fills (logs are repetitive: they shrink several times over), and only the block being written
//! stays as it is. Reading unpacks a block at a time, at gigabytes a second.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Mutex;

/// Text per block before it is packed: LZ4 looks back at most 64 KiB, so bigger blocks would
/// not compress better, and reading one line unpacks no more than this.
const BLOCK_BYTES: usize = 64 * 1024;

/// A task's output lines. Semaphore's quirks are smoothed out as entries are added: an entry may
/// hold several lines, some end with a newline of their own (which is not an empty line), and
/// Windows line ends lose their `\r`.
pub struct TaskLog {
    /// Full blocks, packed.
    packed: Vec<PackedBlock>,
    /// The block being written: its lines joined by `\n` (a line never holds one).
    open: String,
    /// Where each line of the open block starts in `open`.
    open_starts: Vec<u32>,
    lines: usize,
    /// Bytes of text, without line ends.
    text_len: usize,
    /// One past the last line that is not empty.
    trimmed: usize,
    block_bytes: usize,
    /// The block unpacked last: reading a page line by line unpacks its block once.
    unpacked: Mutex<Option<Unpacked>>,
}

#[derive(Clone)]
struct PackedBlock {
    first_line: usize,
    lines: usize,
    /// Bytes of the block's text (lines joined by `\n`) before packing.
    text_bytes: usize,
    data: Box<[u8]>,
}

struct Unpacked {
    block: usize,
    text: String,
    starts: Vec<u32>,
}

/// The log has outgrown what it can address (4 GiB of text in one line block, or more lines
/// than the machine can count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the task's output is larger than 4 GiB")]
pub struct LogTooLarge;

impl Default for TaskLog {
    fn default() -> Self {
        Self::new()
    }
}

impl TaskLog {
    pub fn new() -> Self {
        Self::with_block_bytes(BLOCK_BYTES)
    }

    /// A log packing blocks of `block_bytes` (tests use tiny blocks to cross many boundaries).
    fn with_block_bytes(block_bytes: usize) -> Self {
        Self {
            packed: Vec::new(),
            open: String::new(),
            open_starts: Vec::new(),
            lines: 0,
            text_len: 0,
            trimmed: 0,
            block_bytes: block_bytes.max(1),
            unpacked: Mutex::new(None),
        }
    }

    /// A log of these lines, each taken as one entry.
    pub fn from_entries<I>(entries: I) -> Result<Self, LogTooLarge>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut log = Self::new();
        for entry in entries {
            log.push_entry(entry.as_ref())?;
        }
        Ok(log)
    }

    /// Adds one entry of Semaphore's output.
    pub fn push_entry(&mut self, entry: &str) -> Result<(), LogTooLarge> {
        let body = entry.strip_suffix('\n').unwrap_or(entry);
        for line in body.split('\n') {
            self.push_line(line.strip_suffix('\r').unwrap_or(line))?;
        }
        Ok(())
    }

    fn push_line(&mut self, line: &str) -> Result<(), LogTooLarge> {
        let separator = usize::from(!self.open_starts.is_empty());
        // Checked before anything changes: a refused line leaves the log as it was.
        let start = u32::try_from(self.open.len() + separator).map_err(|_| LogTooLarge)?;
        u32::try_from(self.open.len() + separator + line.len()).map_err(|_| LogTooLarge)?;
        if separator == 1 {
            self.open.push('\n');
        }
        self.open_starts.push(start);
        self.open.push_str(line);
        self.lines += 1;
        self.text_len += line.len();
        if !line.is_empty() {
            self.trimmed = self.lines;
        }
        if self.open.len() >= self.block_bytes {
            self.seal();
        }
        Ok(())
    }

    /// Packs the open block.
    fn seal(&mut self) {
        if self.open_starts.is_empty() {
            return;
        }
        let lines = self.open_starts.len();
        self.packed.push(PackedBlock {
            first_line: self.lines - lines,
            lines,
            text_bytes: self.open.len(),
            data: lz4_flex::block::compress(self.open.as_bytes()).into_boxed_slice(),
        });
        self.open.clear();
        self.open_starts.clear();
    }

    /// How many lines.
    pub fn len(&self) -> usize {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// How many lines there are once trailing empty lines are left out.
    pub fn len_trimmed(&self) -> usize {
        self.trimmed
    }

    /// Bytes of text, without line ends.
    pub fn text_len(&self) -> usize {
        self.text_len
    }

    /// Bytes the log holds in memory, packed blocks and the open one.
    pub fn held_bytes(&self) -> usize {
        self.packed.iter().map(|b| b.data.len()).sum::<usize>()
            + self.packed.capacity() * std::mem::size_of::<PackedBlock>()
            + self.open.capacity()
            + self.open_starts.capacity() * 4
    }

    /// Line `n`, counted from 0.
    pub fn line(&self, n: usize) -> Option<Cow<'_, str>> {
        if n >= self.lines {
            return None;
        }
        let open_first = self.lines - self.open_starts.len();
        if n >= open_first {
            return Some(Cow::Borrowed(line_of(&self.open, &self.open_starts, n - open_first)));
        }
        let block = self.packed.partition_point(|b| b.first_line <= n) - 1;
        let mut cache = self.unpacked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.as_ref().is_none_or(|u| u.block != block) {
            let (text, starts) = self.packed[block].unpack();
            *cache = Some(Unpacked { block, text, starts });
        }
        let unpacked = cache.as_ref()?;
        Some(Cow::Owned(line_of(&unpacked.text, &unpacked.starts, n - self.packed[block].first_line).to_owned()))
    }

    /// Calls `f` with each line in `range` (cut to the log) and its number, in order: the way to
    /// read many lines, a block unpacked once for all of its lines.
    pub fn each_line(&self, range: Range<usize>, f: &mut dyn FnMut(usize, &str)) {
        let end = range.end.min(self.lines);
        let mut n = range.start;
        if n >= end {
            return;
        }
        let first_block = self.packed.partition_point(|b| b.first_line <= n).saturating_sub(1);
        // One buffer for every block: unpacking is then a copy into memory already in cache.
        let mut buffer = Vec::new();
        for block in self.packed.get(first_block..).unwrap_or_default() {
            if n >= end {
                return;
            }
            if n >= block.first_line + block.lines {
                continue;
            }
            let text = block.unpack_into(&mut buffer);
            let mut start = 0;
            let ends = memchr::memchr_iter(b'\n', text.as_bytes()).chain(std::iter::once(text.len()));
            for (k, line_end) in ends.enumerate() {
                let line_no = block.first_line + k;
                if line_no >= end {
                    return;
                }
                if line_no >= n {
                    f(line_no, text.get(start..line_end).unwrap_or_default());
                    n = line_no + 1;
                }
                start = line_end + 1;
            }
        }
        let open_first = self.lines - self.open_starts.len();
        while n < end {
            f(n, line_of(&self.open, &self.open_starts, n - open_first));
            n += 1;
        }
    }

    /// The whole log as text, each line ending in a newline.
    pub fn to_text(&self) -> String {
        let mut text = String::with_capacity(self.text_len + self.lines);
        self.each_line(0..self.lines, &mut |_, line| {
            text.push_str(line);
            text.push('\n');
        });
        text
    }

    /// Releases spare capacity once the log is complete.
    pub fn shrink_to_fit(&mut self) {
        self.packed.shrink_to_fit();
        self.open.shrink_to_fit();
        self.open_starts.shrink_to_fit();
    }
}

impl PackedBlock {
    /// The block's text, unpacked into `buffer`.
    fn unpack_into<'b>(&self, buffer: &'b mut Vec<u8>) -> &'b str {
        buffer.resize(self.text_bytes, 0);
        // The block was packed here from a `String` of exactly `text_bytes` bytes: unpacking it
        // gives that text back, unless memory itself is corrupt.
        #[allow(clippy::expect_used)]
        let size = lz4_flex::block::decompress_into(&self.data, buffer).expect("a block packed by this log");
        buffer.truncate(size);
        #[allow(clippy::expect_used)]
        std::str::from_utf8(buffer).expect("a block packed from UTF-8 text")
    }

    /// The block's text and where its lines start.
    fn unpack(&self) -> (String, Vec<u32>) {
        let mut buffer = Vec::new();
        let text = self.unpack_into(&mut buffer).to_owned();
        let mut starts = Vec::with_capacity(self.lines);
        starts.push(0);
        // `text_bytes` fits in u32: `push_line` refused longer blocks.
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|at| u32::try_from(at + 1).unwrap_or(u32::MAX)));
        (text, starts)
    }
}

/// Line `k` of a block's text, given where its lines start.
fn line_of<'a>(text: &'a str, starts: &[u32], k: usize) -> &'a str {
    let start = starts.get(k).map_or(text.len(), |&s| s as usize);
    let end = starts.get(k + 1).map_or(text.len(), |&next| next as usize - 1);
    text.get(start..end).unwrap_or_default()
}

/// The counts, not the packed bytes: a failing test prints something readable.
impl std::fmt::Debug for TaskLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskLog")
            .field("lines", &self.lines)
            .field("text_len", &self.text_len)
            .field("packed_blocks", &self.packed.len())
            .field("held_bytes", &self.held_bytes())
            .finish_non_exhaustive()
    }
}

impl Clone for TaskLog {
    fn clone(&self) -> Self {
        Self {
            packed: self.packed.clone(),
            open: self.open.clone(),
            open_starts: self.open_starts.clone(),
            lines: self.lines,
            text_len: self.text_len,
            trimmed: self.trimmed,
            block_bytes: self.block_bytes,
            unpacked: Mutex::new(None),
        }
    }
}

/// Two logs are equal when they hold the same lines, however they are packed.
impl PartialEq for TaskLog {
    fn eq(&self, other: &Self) -> bool {
        if self.lines != other.lines || self.text_len != other.text_len {
            return false;
        }
        let mut mine = Vec::with_capacity(self.lines);
        self.each_line(0..self.lines, &mut |_, line| mine.push(line.to_owned()));
        let mut same = true;
        other.each_line(0..other.lines, &mut |n, line| same &= mine[n] == line);
        same
    }
}

impl Eq for TaskLog {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines_of(log: &TaskLog) -> Vec<String> {
        let mut out = Vec::new();
        log.each_line(0..log.len(), &mut |_, l| out.push(l.to_owned()));
        out
    }

    #[test]
    fn entries_become_lines() {
        let cases: [(&[&str], &[&str]); 6] = [
            (&["one", "two"], &["one", "two"]),
            (&["Run TaskRunner with template: hello\n", "next"], &["Run TaskRunner with template: hello", "next"]),
            (&["a\nb\n", "c"], &["a", "b", "c"]),
            (&["dos\r\nline\r"], &["dos", "line"]),
            (&["", "é ünïcode", ""], &["", "é ünïcode", ""]),
            (&[], &[]),
        ];
        for (entries, lines) in cases {
            let log = TaskLog::from_entries(entries).unwrap();
            assert_eq!(lines_of(&log), lines, "{entries:?}");
            assert_eq!(log.len(), lines.len());
            assert_eq!(log.line(lines.len()), None);
        }
    }

    #[test]
    fn a_default_log_packs_like_a_new_one() {
        let mut made = TaskLog::default();
        let mut new = TaskLog::new();
        for n in 0..1_000 {
            made.push_entry(&format!("line {n}")).unwrap();
            new.push_entry(&format!("line {n}")).unwrap();
        }
        assert_eq!(made.held_bytes(), new.held_bytes());
        assert_eq!(made, new);
    }

    #[test]
    fn trailing_empty_lines_can_be_left_out() {
        assert_eq!(TaskLog::from_entries(["kept", "", "", "\n"]).unwrap().len_trimmed(), 1);
        assert_eq!(TaskLog::from_entries(["", "\n"]).unwrap().len_trimmed(), 0);
        assert_eq!(TaskLog::from_entries(["a", "", "b"]).unwrap().len_trimmed(), 3);
    }

    #[test]
    fn a_repetitive_log_is_held_in_a_fraction_of_its_size() {
        let mut log = TaskLog::new();
        for n in 0..50_000 {
            log.push_entry(&format!("\u{1b}[0;32mok: [web-{:02}] => (item=package-{n})\u{1b}[0m", n % 20)).unwrap();
        }
        log.shrink_to_fit();
        assert!(log.held_bytes() * 4 < log.text_len(), "{} held for {} bytes", log.held_bytes(), log.text_len());
        assert_eq!(log.line(31_337).unwrap(), "\u{1b}[0;32mok: [web-17] => (item=package-31337)\u{1b}[0m");
    }

    proptest! {
        /// Whatever the entries and the block size, the lines read back (one at a time, or a
        /// range at a time) are the lines a plain split gives, and the counts agree.
        #[test]
        fn packing_never_changes_a_line(
            entries in proptest::collection::vec("[a-z\u{e9}\r\n ]{0,12}", 0..60),
            block in 1usize..40,
            from in 0usize..80,
            len in 0usize..80,
        ) {
            let mut log = TaskLog::with_block_bytes(block);
            let mut expected: Vec<String> = Vec::new();
            for entry in &entries {
                log.push_entry(entry).unwrap();
                let body = entry.strip_suffix('\n').unwrap_or(entry);
                expected.extend(body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned()));
            }
            prop_assert_eq!(lines_of(&log), expected.clone());
            for (n, line) in expected.iter().enumerate() {
                let read = log.line(n);
                prop_assert_eq!(read.as_deref(), Some(line.as_str()));
            }
            let mut ranged = Vec::new();
            log.each_line(from..from + len, &mut |n, l| ranged.push((n, l.to_owned())));
            let wanted: Vec<(usize, String)> =
                expected.iter().cloned().enumerate().skip(from).take(len).collect();
            prop_assert_eq!(ranged, wanted);
            prop_assert_eq!(log.text_len(), expected.iter().map(String::len).sum::<usize>());
            let trimmed = expected.iter().rposition(|l| !l.is_empty()).map_or(0, |last| last + 1);
            prop_assert_eq!(log.len_trimmed(), trimmed);
            let plain = TaskLog::from_entries(&entries).unwrap();
            prop_assert_eq!(&plain, &log);
        }
    }
}
