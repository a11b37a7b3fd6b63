//! Ansible's output structure: the `PLAY` / `TASK` banners and the `PLAY RECAP` rows.
//!
//! Everything here reads text that has already lost its escape codes (`ansi::strip`). Parsers
//! return `None` on anything they do not fully understand, so a line that merely looks like a
//! banner or a recap row is shown as it was printed rather than half-interpreted.

/// A banner line that opens a part of the playbook run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Banner<'a> {
    /// `PLAY [name] ***`
    Play(&'a str),
    /// `TASK [name] ***`, and handlers, which read the same.
    Task(&'a str),
    /// `PLAY RECAP ***`
    Recap,
}

impl<'a> Banner<'a> {
    /// Recognises a banner: a known keyword, an optional `[name]`, then at least three stars up
    /// to the end of the line. Ansible pads banners with stars to the terminal width; a long
    /// name still gets three.
    pub fn parse(line: &'a str) -> Option<Self> {
        let line = line.trim_end();
        let without_stars = line.trim_end_matches('*');
        if line.len() - without_stars.len() < 3 {
            return None;
        }
        let head = without_stars.strip_suffix(' ')?;
        if head == "PLAY RECAP" {
            return Some(Banner::Recap);
        }
        let (keyword, rest) = head.split_once(" [")?;
        let name = rest.strip_suffix(']')?;
        match keyword {
            "PLAY" => Some(Banner::Play(name)),
            "TASK" | "RUNNING HANDLER" => Some(Banner::Task(name)),
            _ => None,
        }
    }
}

/// The banner without its stars, as a title: `TASK [nginx : Install packages]`.
pub fn banner_title(line: &str) -> &str {
    line.trim_end().trim_end_matches('*').trim_end()
}

/// The recap columns, in Ansible's order.
pub const RECAP_COLUMNS: [&str; 7] = ["ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"];

const FAILED: usize = 3;
const UNREACHABLE: usize = 2;

/// One host's line of the PLAY RECAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecapRow<'a> {
    pub host: &'a str,
    /// Counts by `RECAP_COLUMNS`; `None` for a column this Ansible version does not print
    /// (`rescued` and `ignored` arrived in 2.8).
    pub counts: [Option<u64>; 7],
}

impl<'a> RecapRow<'a> {
    /// Parses `host : ok=3 changed=1 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0`.
    ///
    /// Every token after the colon must be a known `key=number` seen once, and the four
    /// columns every Ansible prints (ok, changed, unreachable, failed) must be there: a row that
    /// was cut or garbled is not a recap row.
    pub fn parse(line: &'a str) -> Option<Self> {
        // The host comes first and may itself hold colons (IPv6); the counts never do.
        let (host, counts_text) = line.rsplit_once(':')?;
        let host = host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return None;
        }
        let mut counts = [None; 7];
        let mut tokens = 0;
        for token in counts_text.split_whitespace() {
            let (key, value) = token.split_once('=')?;
            let column = RECAP_COLUMNS.iter().position(|c| *c == key)?;
            if counts[column].is_some() || value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            counts[column] = Some(value.parse().ok()?);
            tokens += 1;
        }
        if tokens == 0 || counts[..4].iter().any(Option::is_none) {
            return None;
        }
        Some(Self { host, counts })
    }

    pub fn failed(&self) -> bool {
        self.counts[FAILED].is_some_and(|n| n > 0)
    }

    pub fn unreachable(&self) -> bool {
        self.counts[UNREACHABLE].is_some_and(|n| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_table() {
        let cases: &[(&str, Option<Banner<'_>>)] = &[
            ("PLAY [Deploy web tier] ****************************", Some(Banner::Play("Deploy web tier"))),
            ("TASK [nginx : Install packages] ***", Some(Banner::Task("nginx : Install packages"))),
            ("RUNNING HANDLER [nginx : reload] *****", Some(Banner::Task("nginx : reload"))),
            ("PLAY RECAP *********************************************************************", Some(Banner::Recap)),
            ("PLAY RECAP ***   ", Some(Banner::Recap)),
            ("TASK [] ***", Some(Banner::Task(""))),
            ("TASK [a [nested] name] ***", Some(Banner::Task("a [nested] name"))),
            // Not enough stars, no stars, no space before them, unknown keyword, no brackets.
            ("TASK [x] **", None),
            ("TASK [x]", None),
            ("TASK [x]***", None),
            ("STEP [x] ***", None),
            ("TASK x ***", None),
            ("PLAY RECAP", None),
            ("***", None),
            ("", None),
            ("ok: [web-01] ***", None),
        ];
        for (line, expected) in cases {
            assert_eq!(Banner::parse(line), *expected, "{line:?}");
        }
        assert_eq!(banner_title("TASK [x] *****  "), "TASK [x]");
    }

    #[test]
    fn recap_rows_table() {
        let full = "web-01                     : ok=3    changed=1    unreachable=0    failed=0    skipped=2    rescued=0    ignored=1   ";
        let row = RecapRow::parse(full).unwrap();
        assert_eq!(row.host, "web-01");
        assert_eq!(row.counts, [Some(3), Some(1), Some(0), Some(0), Some(2), Some(0), Some(1)]);
        assert!(!row.failed() && !row.unreachable());

        let old = RecapRow::parse("db : ok=1 changed=0 unreachable=1 failed=2").unwrap();
        assert_eq!(old.counts, [Some(1), Some(0), Some(1), Some(2), None, None, None]);
        assert!(old.failed() && old.unreachable());

        let ipv6 = RecapRow::parse("fe80::1 : ok=1 changed=0 unreachable=0 failed=0").unwrap();
        assert_eq!(ipv6.host, "fe80::1");

        let order = RecapRow::parse("h : failed=0 ok=1 unreachable=0 changed=4").unwrap();
        assert_eq!(order.counts[1], Some(4));

        // Cut, garbled or foreign rows are not recap rows: they are shown as printed.
        for bad in [
            "",
            ":",
            " : ok=1 changed=0 unreachable=0 failed=0",
            "web-01 : ",
            "web-01 : ok=3 changed=1",
            "web-01 : ok=3 changed=1 unreachable=0 failed=",
            "web-01 : ok=3 changed=1 unreachable=0 failed=x",
            "web-01 : ok=3 changed=1 unreachable=0 failed=-1",
            "web-01 : ok=3 ok=3 changed=1 unreachable=0 failed=0",
            "web-01 : ok=3 changed=1 unreachable=0 failed=0 surprise=1",
            "web-01 : ok=3 changed=1 unreachable=0 failed=0 and more",
            "web-01 : ok=99999999999999999999999 changed=1 unreachable=0 failed=0",
            "two words : ok=1 changed=0 unreachable=0 failed=0",
            "ok: [web-01]",
            "fatal: [web-02]: FAILED! => {\"msg\": \"ok=1\"}",
        ] {
            assert_eq!(RecapRow::parse(bad), None, "{bad:?}");
        }
    }
}
