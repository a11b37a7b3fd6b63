//! A task's output as the domain reads it: its lines, in order, in one text buffer.
//!
//! Semaphore sends output as a list of entries, one per line printed, each with its own time.
//! Held as one `String` per line, a chatty task's log costs more in per-line overhead (24 bytes,
//! an allocation, the time) than in text: a 100 MB log of short lines became 234 MB. Here it costs
//! its text plus four bytes a line.

/// A task's output lines. Semaphore's quirks are smoothed out as entries are added: an entry may
/// hold several lines, some end with a newline of their own (which is not an empty line), and
/// Windows line ends lose their `\r`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskLog {
    text: String,
    /// Where each line ends in `text`.
    ends: Vec<u32>,
}

/// The log has outgrown what four-byte offsets can address (4 GiB of text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the task's output is larger than 4 GiB")]
pub struct LogTooLarge;

impl TaskLog {
    pub fn new() -> Self {
        Self::default()
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
            self.text.push_str(line.strip_suffix('\r').unwrap_or(line));
            self.ends.push(u32::try_from(self.text.len()).map_err(|_| LogTooLarge)?);
        }
        Ok(())
    }

    /// How many lines.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Line `n`, counted from 0.
    pub fn line(&self, n: usize) -> Option<&str> {
        let end = *self.ends.get(n)? as usize;
        let start = n.checked_sub(1).map_or(0, |p| self.ends[p] as usize);
        self.text.get(start..end)
    }

    /// Every line, in order.
    pub fn lines(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator + '_ {
        (0..self.len()).map(|n| self.line(n).unwrap_or_default())
    }

    /// How many lines there are once trailing empty lines are left out.
    pub fn len_trimmed(&self) -> usize {
        self.lines().rposition(|l| !l.is_empty()).map_or(0, |last| last + 1)
    }

    /// Bytes of text, without line ends.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// Releases spare capacity once the log is complete.
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(log.lines().collect::<Vec<_>>(), lines, "{entries:?}");
            assert_eq!(log.len(), lines.len());
            assert_eq!(log.line(lines.len()), None);
        }
    }

    #[test]
    fn trailing_empty_lines_can_be_left_out() {
        assert_eq!(TaskLog::from_entries(["kept", "", "", "\n"]).unwrap().len_trimmed(), 1);
        assert_eq!(TaskLog::from_entries(["", "\n"]).unwrap().len_trimmed(), 0);
        assert_eq!(TaskLog::from_entries(["a", "", "b"]).unwrap().len_trimmed(), 3);
    }
}
