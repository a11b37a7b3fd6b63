//! ANSI escape sequences in task output: stripped for plain text, turned into Matrix HTML for
//! rich text.
//!
//! The renderer is a style state machine, not a tag pusher: it tracks the current style, opens the
//! tags for a style only in front of text, and closes everything at the end of each line. So every
//! line is balanced on its own (a page of lines can be cut anywhere), and a style still carries
//! over to the next line, as it does in a terminal. One pass over the bytes, no regex.

use std::borrow::Cow;

const ESC: u8 = 0x1b;

/// Tango palette, as ChatrixCD used: normal 0–7, bright 8–15.
const PALETTE: [u32; 16] = [
    0x000000, 0xcc0000, 0x4e9a06, 0xc4a000, 0x3465a4, 0x75507b, 0x06989a, 0xd3d7cf, 0x555753, 0xef2929, 0x8ae234,
    0xfce94f, 0x729fcf, 0xad7fa8, 0x34e2e2, 0xeeeeec,
];

/// The xterm 256-colour table.
fn xterm(n: u8) -> u32 {
    match n {
        0..=15 => PALETTE[usize::from(n)],
        16..=231 => {
            const LEVELS: [u32; 6] = [0, 95, 135, 175, 215, 255];
            let i = n - 16;
            let (r, g, b) = (LEVELS[usize::from(i / 36)], LEVELS[usize::from((i / 6) % 6)], LEVELS[usize::from(i % 6)]);
            (r << 16) | (g << 8) | b
        }
        _ => {
            let v = 8 + 10 * u32::from(n - 232);
            (v << 16) | (v << 8) | v
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Style {
    fg: Option<u32>,
    bg: Option<u32>,
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
}

impl Style {
    fn is_plain(&self) -> bool {
        *self == Style::default()
    }

    fn open(&self, out: &mut String) {
        use std::fmt::Write as _;
        if self.fg.is_some() || self.bg.is_some() {
            out.push_str("<span");
            if let Some(fg) = self.fg {
                let _ = write!(out, " data-mx-color=\"#{fg:06x}\"");
            }
            if let Some(bg) = self.bg {
                let _ = write!(out, " data-mx-bg-color=\"#{bg:06x}\"");
            }
            out.push('>');
        }
        if self.bold {
            out.push_str("<b>");
        }
        if self.italic {
            out.push_str("<i>");
        }
        if self.underline {
            out.push_str("<u>");
        }
        if self.strike {
            out.push_str("<del>");
        }
    }

    fn close(&self, out: &mut String) {
        if self.strike {
            out.push_str("</del>");
        }
        if self.underline {
            out.push_str("</u>");
        }
        if self.italic {
            out.push_str("</i>");
        }
        if self.bold {
            out.push_str("</b>");
        }
        if self.fg.is_some() || self.bg.is_some() {
            out.push_str("</span>");
        }
    }

    /// Applies one SGR sequence's parameters.
    fn apply(&mut self, params: &[u8]) {
        let mut codes = params.split(|&b| b == b';' || b == b':').map(|p| {
            // Empty means 0; an overlong number is not a code we know.
            if p.is_empty() {
                0
            } else {
                std::str::from_utf8(p).ok().and_then(|s| s.parse::<u16>().ok()).unwrap_or(u16::MAX)
            }
        });
        while let Some(code) = codes.next() {
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                3 => self.italic = true,
                4 => self.underline = true,
                9 => self.strike = true,
                21 | 22 => self.bold = false,
                23 => self.italic = false,
                24 => self.underline = false,
                29 => self.strike = false,
                30..=37 => self.fg = Some(PALETTE[usize::from(code - 30)]),
                39 => self.fg = None,
                40..=47 => self.bg = Some(PALETTE[usize::from(code - 40)]),
                49 => self.bg = None,
                90..=97 => self.fg = Some(PALETTE[usize::from(code - 90 + 8)]),
                100..=107 => self.bg = Some(PALETTE[usize::from(code - 100 + 8)]),
                38 | 48 => {
                    let color = match codes.next() {
                        Some(5) => codes.next().and_then(|n| u8::try_from(n).ok()).map(xterm),
                        Some(2) => {
                            let mut channel = || codes.next().and_then(|n| u8::try_from(n).ok()).map(u32::from);
                            match (channel(), channel(), channel()) {
                                (Some(r), Some(g), Some(b)) => Some((r << 16) | (g << 8) | b),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    if let Some(color) = color {
                        if code == 38 {
                            self.fg = Some(color);
                        } else {
                            self.bg = Some(color);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Renders lines of ANSI text to HTML, carrying the style from one line to the next.
#[derive(Debug, Default, Clone)]
pub struct AnsiRenderer {
    style: Style,
}

/// Where an escape sequence ends, and the SGR parameters if it was one.
fn escape_sequence(bytes: &[u8], at: usize) -> (usize, Option<&[u8]>) {
    match bytes.get(at + 1) {
        Some(b'[') => {
            let mut i = at + 2;
            while i < bytes.len() && !(0x40..=0x7e).contains(&bytes[i]) {
                i += 1;
            }
            if i >= bytes.len() {
                return (bytes.len(), None);
            }
            let params = &bytes[at + 2..i];
            (i + 1, (bytes[i] == b'm').then_some(params))
        }
        Some(b']') => {
            // Operating system command: ends with BEL or ESC \.
            let mut i = at + 2;
            while i < bytes.len() {
                if bytes[i] == 0x07 {
                    return (i + 1, None);
                }
                if bytes[i] == ESC && bytes.get(i + 1) == Some(&b'\\') {
                    return (i + 2, None);
                }
                i += 1;
            }
            (bytes.len(), None)
        }
        Some(_) => (at + 2, None),
        None => (at + 1, None),
    }
}

fn push_escaped(out: &mut String, text: &str) {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let entity = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            _ => continue,
        };
        out.push_str(&text[last..i]);
        out.push_str(entity);
        last = i + 1;
    }
    out.push_str(&text[last..]);
}

impl AnsiRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Renders one line (without its newline) into `out`, balanced on its own.
    pub fn render_line(&mut self, line: &str, out: &mut String) {
        let bytes = line.as_bytes();
        let mut open: Option<Style> = None;
        let mut text_start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b != ESC && (b >= 0x20 || b == b'\t') {
                i += 1;
                continue;
            }
            self.emit(&line[text_start..i], &mut open, out);
            if b == ESC {
                let (end, sgr) = escape_sequence(bytes, i);
                if let Some(params) = sgr {
                    self.style.apply(params);
                }
                i = end;
            } else {
                // Other control characters (\r, backspace...) have no place in HTML.
                i += 1;
            }
            text_start = i;
        }
        self.emit(&line[text_start..], &mut open, out);
        if let Some(style) = open {
            style.close(out);
        }
    }

    fn emit(&self, text: &str, open: &mut Option<Style>, out: &mut String) {
        if text.is_empty() {
            return;
        }
        if *open != Some(self.style) {
            if let Some(previous) = open.take() {
                previous.close(out);
            }
            if !self.style.is_plain() {
                self.style.open(out);
                *open = Some(self.style);
            }
        }
        push_escaped(out, text);
    }
}

/// Renders a whole text, lines separated by `\n`, each balanced on its own.
pub fn to_html(input: &str) -> String {
    let mut renderer = AnsiRenderer::new();
    let mut out = String::with_capacity(input.len() + input.len() / 4);
    for (n, line) in input.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        renderer.render_line(line, &mut out);
    }
    out
}

/// Removes every escape sequence (and stray control characters but tab and newline).
pub fn strip(input: &str) -> Cow<'_, str> {
    let bytes = input.as_bytes();
    if !bytes.iter().any(|&b| b == ESC || (b < 0x20 && b != b'\n' && b != b'\t')) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len());
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != ESC && (b >= 0x20 || b == b'\n' || b == b'\t') {
            i += 1;
            continue;
        }
        out.push_str(&input[text_start..i]);
        i = if b == ESC { escape_sequence(bytes, i).0 } else { i + 1 };
        text_start = i;
    }
    out.push_str(&input[text_start..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sgr_features_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("\x1b[31mred\x1b[0m", "<span data-mx-color=\"#cc0000\">red</span>"),
            ("\x1b[1;32mok\x1b[0m", "<span data-mx-color=\"#4e9a06\"><b>ok</b></span>"),
            ("\x1b[91mbright\x1b[39m", "<span data-mx-color=\"#ef2929\">bright</span>"),
            ("\x1b[44mbg\x1b[49m", "<span data-mx-bg-color=\"#3465a4\">bg</span>"),
            ("\x1b[38;5;196mx", "<span data-mx-color=\"#ff0000\">x</span>"),
            ("\x1b[38;5;244mx", "<span data-mx-color=\"#808080\">x</span>"),
            ("\x1b[38;2;1;2;3mx", "<span data-mx-color=\"#010203\">x</span>"),
            ("\x1b[48;2;255;255;255mx", "<span data-mx-bg-color=\"#ffffff\">x</span>"),
            ("\x1b[3mi\x1b[23m \x1b[4mu\x1b[24m", "<i>i</i> <u>u</u>"),
            ("\x1b[1mb\x1b[22mn", "<b>b</b>n"),
            ("\x1b[9ms\x1b[29m", "<del>s</del>"),
            ("\x1b[7;5munknown codes\x1b[m", "unknown codes"),
            ("\x1b[2Kcleared\x1b]0;title\x07", "cleared"),
            ("a<b>&\"c\"", "a&lt;b&gt;&amp;&quot;c&quot;"),
            ("\x1b[31m<x>\x1b[0m", "<span data-mx-color=\"#cc0000\">&lt;x&gt;</span>"),
            ("\x1b[38;5mbroken", "broken"),
            ("\x1b[", ""),
            ("carriage\r", "carriage"),
        ];
        for (input, expected) in cases {
            assert_eq!(to_html(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn styles_carry_over_lines_and_every_line_is_balanced() {
        let html = to_html("\x1b[1;33mwarning: one\ntwo\x1b[0m\nthree");
        let lines: Vec<&str> = html.split('\n').collect();
        assert_eq!(lines[0], "<span data-mx-color=\"#c4a000\"><b>warning: one</b></span>");
        assert_eq!(lines[1], "<span data-mx-color=\"#c4a000\"><b>two</b></span>");
        assert_eq!(lines[2], "three");
    }

    #[test]
    fn strip_removes_escapes_and_borrows_clean_text() {
        assert_eq!(strip("\x1b[0;33mchanged: [localhost]\x1b[0m"), "changed: [localhost]");
        assert_eq!(strip("a\x1b]0;t\x1b\\b\x1b[Kc"), "abc");
        assert!(matches!(strip("clean text\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn ansible_log_snapshot() {
        let log = "\x1b[0;32mok: [localhost]\x1b[0m\n\
                   PLAY RECAP *********************************************************************\n\
                   \x1b[0;33mlocalhost\x1b[0m                  : \x1b[0;32mok=3   \x1b[0m \x1b[0;33mchanged=1   \x1b[0m unreachable=0    \x1b[0;31mfailed=1   \x1b[0m skipped=0";
        insta::assert_snapshot!(to_html(log));
    }

    /// Checks that span/b/i/u/del open and close in properly nested order.
    fn balanced(line: &str) -> bool {
        let mut stack = Vec::new();
        let mut rest = line;
        while let Some(start) = rest.find('<') {
            let Some(end) = rest[start..].find('>') else { return false };
            let tag = &rest[start + 1..start + end];
            rest = &rest[start + end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop() != Some(name.to_owned()) {
                    return false;
                }
            } else {
                stack.push(tag.split(' ').next().unwrap_or_default().to_owned());
            }
        }
        stack.is_empty()
    }

    proptest! {
        #[test]
        fn rendering_never_panics_and_is_balanced_per_line(
            parts in prop::collection::vec(prop_oneof![
                "\\PC{0,12}",
                Just("\x1b[0m".to_owned()), Just("\x1b[1m".to_owned()), Just("\x1b[31m".to_owned()),
                Just("\x1b[38;5;200m".to_owned()), Just("\x1b[48;2;1;2;3m".to_owned()), Just("\x1b[4;3m".to_owned()),
                Just("\x1b[22m".to_owned()), Just("\x1b[".to_owned()), Just("\n".to_owned()), Just("<&>".to_owned()),
            ], 0..40)
        ) {
            let input: String = parts.concat();
            let html = to_html(&input);
            for line in html.split('\n') {
                prop_assert!(balanced(line), "unbalanced: {line:?} from {input:?}");
            }
            let text = strip(&input);
            prop_assert!(!text.contains('\x1b'));
        }

        #[test]
        fn input_markup_is_always_escaped(text in "[^\x1b]{0,80}") {
            let html = to_html(&text);
            prop_assert_eq!(html.matches('<').count(), 0, "{}", html);
        }
    }
}
