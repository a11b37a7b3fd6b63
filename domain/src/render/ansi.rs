//! ANSI escape sequences in task output: stripped for plain text, turned into Matrix HTML for
//! rich text.
//!
//! The renderer is a style state machine, not a tag pusher: SGR codes only change the current
//! style, and the tags for a style are opened in front of text, closed and reopened as a whole
//! when the style changes, and closed at every newline. So every output line is balanced on its
//! own (a page of lines can be cut anywhere), while a style still carries over to the next line,
//! as it does in a terminal. ChatrixCD pushed tags per code, which mis-nested across lines.
//!
//! One pass over the bytes with a class table, no regex, no allocation per character. Escape
//! sequences are parsed after ECMA-48 but never consume a newline or a non-ASCII byte, so a
//! broken sequence costs at most the rest of its own line and every cut lands on a char boundary.

use std::borrow::Cow;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;

/// Tango palette, as ChatrixCD used: normal 0–7, bright 8–15.
const PALETTE: [u32; 16] = [
    0x000000, 0xcc0000, 0x4e9a06, 0xc4a000, 0x3465a4, 0x75507b, 0x06989a, 0xd3d7cf, 0x555753, 0xef2929, 0x8ae234,
    0xfce94f, 0x729fcf, 0xad7fa8, 0x34e2e2, 0xeeeeec,
];

/// The xterm 256-colour table: the 16 palette colours, a 6×6×6 cube, 24 greys.
fn xterm(n: u8) -> u32 {
    match n {
        0..=15 => PALETTE[usize::from(n)],
        16..=231 => {
            const LEVELS: [u32; 6] = [0, 95, 135, 175, 215, 255];
            let i = n - 16;
            let (r, g, b) = (LEVELS[usize::from(i / 36)], LEVELS[usize::from((i / 6) % 6)], LEVELS[usize::from(i % 6)]);
            (r << 16) | (g << 8) | b
        }
        232..=255 => {
            let v = 8 + 10 * u32::from(n - 232);
            (v << 16) | (v << 8) | v
        }
    }
}

/// What the scan loop must stop at; everything else (including all non-ASCII bytes) is copied
/// as is.
const TEXT: u8 = 0;
const MARKUP: u8 = 1;
const ESCAPE: u8 = 2;
const NEWLINE: u8 = 3;
const CONTROL: u8 = 4;

static CLASS: [u8; 256] = {
    let mut table = [TEXT; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = CONTROL;
        b += 1;
    }
    table[0x7f] = CONTROL;
    table[b'\t' as usize] = TEXT;
    table[b'\n' as usize] = NEWLINE;
    table[ESC as usize] = ESCAPE;
    table[b'<' as usize] = MARKUP;
    table[b'>' as usize] = MARKUP;
    table[b'&' as usize] = MARKUP;
    table[b'"' as usize] = MARKUP;
    table
};

const LOW: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Index of the first byte at or after `from` that `stop` accepts. `stop` may only accept a
/// control byte or, with `markup`, one of `<>&"`. Sixteen bytes at a time: most of a log is plain
/// text, and a chunk with nothing interesting is skipped with a few vector instructions (the
/// test is branch-free over a fixed-size array, which the compiler vectorises even for
/// baseline x86-64); only a chunk that has something is searched byte by byte.
fn find(bytes: &[u8], from: usize, markup: bool, stop: impl Fn(u8) -> bool) -> Option<usize> {
    let interesting = |chunk: &[u8; 16]| {
        let control = chunk.iter().fold(0u8, |any, &b| any | u8::from((b < 0x20) | (b == 0x7f)));
        let markup = markup
            && chunk.iter().fold(0u8, |any, &b| any | u8::from((b == b'<') | (b == b'>') | (b == b'&') | (b == b'"')))
                != 0;
        control != 0 || markup
    };
    let mut i = from;
    while let Some(Ok(chunk)) = bytes.get(i..i + 16).map(<&[u8; 16]>::try_from) {
        if interesting(chunk)
            && let Some(n) = chunk.iter().position(|&b| stop(b))
        {
            return Some(i + n);
        }
        i += 16;
    }
    bytes.get(i..)?.iter().position(|&b| stop(b)).map(|n| i + n)
}

fn entity(b: u8) -> &'static str {
    match b {
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'&' => "&amp;",
        _ => "&quot;",
    }
}

/// The escape sequence starting at `bytes[at]` (an ESC): where it ends, and its parameters if it
/// is an SGR (`ESC [ … m`) sequence.
///
/// Only ASCII bytes other than newline are ever consumed, so `end` is a char boundary and a
/// sequence cut short by the end of a line does not swallow the next one.
pub(crate) fn sequence(bytes: &[u8], at: usize) -> (usize, Option<&[u8]>) {
    let len = bytes.len();
    let mut i = at + 1;
    match bytes.get(i) {
        Some(b'[') => {
            i += 1;
            let params_start = i;
            while i < len && (0x30..=0x3f).contains(&bytes[i]) {
                i += 1;
            }
            let params_end = i;
            while i < len && (0x20..=0x2f).contains(&bytes[i]) {
                i += 1;
            }
            match bytes.get(i) {
                Some(&last) if (0x40..=0x7e).contains(&last) => {
                    let params = &bytes[params_start..params_end];
                    // Private (`ESC[>4;2m`) or intermediate forms ending in `m` are not colours.
                    let sgr = last == b'm'
                        && params_end == i
                        && params.iter().all(|&b| b.is_ascii_digit() || b == b';' || b == b':');
                    (i + 1, sgr.then_some(params))
                }
                // Malformed: drop what was read, keep the byte that broke it.
                _ => (i, None),
            }
        }
        // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (`ESC \`).
        Some(b']' | b'P' | b'X' | b'^' | b'_') => {
            i += 1;
            while i < len {
                match bytes[i] {
                    BEL => return (i + 1, None),
                    ESC if bytes.get(i + 1) == Some(&b'\\') => return (i + 2, None),
                    // Another escape aborts the string, as in a terminal; it is parsed on its own.
                    ESC | b'\n' => return (i, None),
                    _ => i += 1,
                }
            }
            (len, None)
        }
        _ => {
            // nF / Fp / Fe / Fs escapes: intermediates, then one final byte (`ESC ( B`, `ESC 7`).
            while i < len && (0x20..=0x2f).contains(&bytes[i]) {
                i += 1;
            }
            match bytes.get(i) {
                Some(&last) if (0x30..=0x7e).contains(&last) => (i + 1, None),
                _ => (i, None),
            }
        }
    }
}

/// A decimal SGR parameter; empty means 0 (the default), garbage means "no such code".
fn number(param: &[u8]) -> u32 {
    let mut n: u32 = 0;
    for &b in param {
        if !b.is_ascii_digit() {
            return u32::MAX;
        }
        n = n.saturating_mul(10).saturating_add(u32::from(b - b'0'));
    }
    n
}

fn rgb(r: u32, g: u32, b: u32) -> Option<u32> {
    (r <= 255 && g <= 255 && b <= 255).then_some((r << 16) | (g << 8) | b)
}

fn indexed(n: u32) -> Option<u32> {
    u8::try_from(n).ok().map(xterm)
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
    fn open(&self, out: &mut String) {
        if self.fg.is_some() || self.bg.is_some() {
            out.push_str("<span");
            if let Some(fg) = self.fg {
                push_colour(out, " data-mx-color", fg);
            }
            if let Some(bg) = self.bg {
                push_colour(out, " data-mx-bg-color", bg);
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

    /// What `open` writes, as JSON-escaped bytes. Each attribute holds two quotes, which JSON
    /// escapes; the pager relies on this matching `open` exactly (see the measuring tests).
    fn open_cost(&self) -> usize {
        // ` data-mx-color="#rrggbb"` and ` data-mx-bg-color="#rrggbb"`, plus a byte per quote.
        const FG: usize = " data-mx-color=\"#000000\"".len() + 2;
        const BG: usize = " data-mx-bg-color=\"#000000\"".len() + 2;
        let mut cost = 0;
        if self.fg.is_some() || self.bg.is_some() {
            cost += "<span>".len();
            if self.fg.is_some() {
                cost += FG;
            }
            if self.bg.is_some() {
                cost += BG;
            }
        }
        cost + usize::from(self.bold) * "<b>".len()
            + usize::from(self.italic) * "<i>".len()
            + usize::from(self.underline) * "<u>".len()
            + usize::from(self.strike) * "<del>".len()
    }

    /// What `close` writes, as JSON-escaped bytes (closing tags hold nothing JSON escapes).
    fn close_cost(&self) -> usize {
        usize::from(self.fg.is_some() || self.bg.is_some()) * "</span>".len()
            + usize::from(self.bold) * "</b>".len()
            + usize::from(self.italic) * "</i>".len()
            + usize::from(self.underline) * "</u>".len()
            + usize::from(self.strike) * "</del>".len()
    }

    /// Applies the parameters of one SGR sequence, left to right as a terminal does.
    fn apply(&mut self, params: &[u8]) {
        let mut groups = params.split(|&b| b == b';');
        while let Some(group) = groups.next() {
            if group.contains(&b':') {
                self.apply_colon_group(group);
                continue;
            }
            let code = number(group);
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                3 => self.italic = true,
                4 => self.underline = true,
                9 => self.strike = true,
                21 => self.underline = true,
                22 => self.bold = false,
                23 => self.italic = false,
                24 => self.underline = false,
                29 => self.strike = false,
                30..=37 => self.fg = Some(PALETTE[(code - 30) as usize]),
                39 => self.fg = None,
                40..=47 => self.bg = Some(PALETTE[(code - 40) as usize]),
                49 => self.bg = None,
                90..=97 => self.fg = Some(PALETTE[(code - 90 + 8) as usize]),
                100..=107 => self.bg = Some(PALETTE[(code - 100 + 8) as usize]),
                // Extended colours take their arguments from the following parameters; 58
                // (underline colour) is not shown but its arguments must not be read as codes.
                38 | 48 | 58 => {
                    // A missing argument (the sequence ends early) gives no colour; an empty
                    // one counts as 0.
                    let mut next = || groups.next().map(number);
                    let colour = match next() {
                        Some(5) => next().and_then(indexed),
                        Some(2) => match (next(), next(), next()) {
                            (Some(r), Some(g), Some(b)) => rgb(r, g, b),
                            _ => None,
                        },
                        _ => None,
                    };
                    match code {
                        38 => self.fg = colour.or(self.fg),
                        48 => self.bg = colour.or(self.bg),
                        _ => {}
                    }
                }
                // Dim, blink, reverse, conceal, fonts, overline...: not representable, ignored.
                _ => {}
            }
        }
    }

    /// ITU T.416 sub-parameters: `38:5:n`, `38:2:[colour space]:r:g:b`, `4:n` underline styles.
    fn apply_colon_group(&mut self, group: &[u8]) {
        let mut values = [0u32; 6];
        let mut count = 0;
        for part in group.split(|&b| b == b':') {
            if let Some(slot) = values.get_mut(count) {
                *slot = number(part);
            }
            count += 1;
        }
        match values[0] {
            4 => self.underline = count < 2 || values[1] != 0,
            38 | 48 => {
                let colour = match (values[1], count) {
                    (5, 3..) => indexed(values[2]),
                    (2, 6..) => rgb(values[3], values[4], values[5]),
                    (2, 5) => rgb(values[2], values[3], values[4]),
                    _ => None,
                };
                if let Some(colour) = colour {
                    if values[0] == 38 {
                        self.fg = Some(colour);
                    } else {
                        self.bg = Some(colour);
                    }
                }
            }
            _ => {}
        }
    }
}

fn push_colour(out: &mut String, attribute: &str, colour: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str(attribute);
    out.push_str("=\"#");
    for shift in [20, 16, 12, 8, 4, 0] {
        out.push(char::from(HEX[((colour >> shift) & 0xf) as usize]));
    }
    out.push('"');
}

/// Renders ANSI text to Matrix HTML line by line, carrying the style from one line to the next,
/// so a big log can be rendered (and paged) a line at a time.
#[derive(Debug, Default, Clone)]
pub struct AnsiRenderer {
    style: Style,
}

impl AnsiRenderer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Renders one line into `out`: escaped text, with every tag it opens closed at its end. A
    /// `\n` inside `line` is kept, and the tags are closed before it and reopened after it.
    pub fn render_line(&mut self, line: &str, out: &mut String) {
        self.render_into(line, out, &mut ());
    }

    /// [`render_line`](Self::render_line) and [`strip`] in one pass: the HTML into `out`, the
    /// stripped text into `plain` (both appended to). A page shown needs both for each line.
    pub fn render_line_and_strip(&mut self, line: &str, out: &mut String, plain: &mut String) {
        self.render_into(line, out, plain);
    }

    fn render_into(&mut self, line: &str, out: &mut String, plain: &mut impl Plain) {
        let mut open = Style::default();
        let bytes = line.as_bytes();
        let mut run = 0;
        let mut i = 0;
        while let Some(at) = find(bytes, i, true, |b| CLASS[usize::from(b)] != TEXT) {
            i = at;
            // `i` is at an ASCII byte, so both slices below end on char boundaries.
            if run < i {
                self.sync(&mut open, out);
                out.push_str(&line[run..i]);
                plain.push_str(&line[run..i]);
            }
            let b = bytes[i];
            match CLASS[usize::from(b)] {
                MARKUP => {
                    self.sync(&mut open, out);
                    out.push_str(entity(b));
                    plain.push_str(&line[i..=i]);
                    i += 1;
                }
                NEWLINE => {
                    open.close(out);
                    open = Style::default();
                    out.push('\n');
                    plain.push_str("\n");
                    i += 1;
                }
                ESCAPE => i = self.escape_at(bytes, i),
                // Carriage returns, backspaces, bells: nothing to show in HTML.
                _ => i += 1,
            }
            run = i;
        }
        if run < bytes.len() {
            self.sync(&mut open, out);
            out.push_str(&line[run..]);
            plain.push_str(&line[run..]);
        }
        open.close(out);
    }

    /// What [`render_line`](Self::render_line) and [`strip`] would give for `line`, without
    /// writing any HTML: the stripped text, and both texts' sizes as JSON-escaped bytes. The
    /// style is carried over exactly as `render_line` carries it.
    ///
    /// The pager needs a line's size for every line of a log but its HTML only for the lines of
    /// one page; measuring is one pass that writes nothing but the stripped text, and not even
    /// that when the text is one piece of `line` (a line wrapped in one colour, as most are).
    pub fn measure_line<'a>(&mut self, line: &'a str, buf: &'a mut String) -> (&'a str, LineCost) {
        buf.clear();
        let bytes = line.as_bytes();
        let mut open = Style::default();
        // Whether the style may differ from the tags open: saves comparing styles at every run.
        let mut changed = !self.is_plain();
        let mut cost = LineCost::default();
        // The kept text is `line[run..]` up to the next dropped byte; `piece` is the one piece
        // kept so far while there is only one, before `buf` is needed.
        let mut piece: Option<(usize, usize)> = None;
        let mut copied = false;
        let mut run = 0;
        let mut i = 0;
        loop {
            // A coloured line starts with its colour code: no text to scan before it.
            let (next, plain, html) = match bytes.get(i) {
                Some(&b) if stops(b) => (Some(i), 0, 0),
                _ => scan_text(bytes, i),
            };
            let end = next.unwrap_or(bytes.len());
            if i < end {
                // Text, all in one style: the tags for it, then its bytes.
                cost.html += self.sync_cost(&mut open, &mut changed);
                cost.plain += end - i + plain;
                cost.html += end - i + html;
            }
            let Some(at) = next else {
                break;
            };
            i = at;
            if bytes[i] == b'\n' {
                // Kept in both; the HTML closes its tags before it.
                cost.html += open.close_cost() + 2;
                open = Style::default();
                changed = !self.is_plain();
                cost.plain += 2;
                i += 1;
                continue;
            }
            // A dropped byte or sequence ends a piece of kept text.
            if run < i {
                keep(line, run, i, &mut piece, &mut copied, buf);
            }
            if bytes[i] == ESC {
                i = self.escape_at(bytes, i);
                changed = true;
            } else {
                i += 1;
            }
            run = i;
        }
        if run < bytes.len() {
            keep(line, run, bytes.len(), &mut piece, &mut copied, buf);
        }
        cost.html += open.close_cost();
        let text = match piece {
            _ if copied => buf.as_str(),
            // Both ends are char boundaries: pieces end at ASCII bytes or at the end.
            Some((start, end)) => &line[start..end],
            None => "",
        };
        (text, cost)
    }

    /// Applies the colour codes of `line` and nothing else: the style the next line starts
    /// with, at the cost of a search for escape bytes.
    pub fn advance(&mut self, line: &str) {
        let bytes = line.as_bytes();
        let mut i = 0;
        while let Some(at) = memchr::memchr(ESC, &bytes[i..]) {
            i = self.escape_at(bytes, i + at);
        }
    }

    /// Forgets the carried-over style, as `ESC[0m` would.
    pub fn reset(&mut self) {
        self.style = Style::default();
    }

    /// Whether text rendered next would get no tags.
    pub fn is_plain(&self) -> bool {
        self.style == Style::default()
    }

    /// Takes the escape sequence at `bytes[at]` (an ESC): applies it if it sets colours, and
    /// says where it ends. The two codes Ansible prints on nearly every line, a reset and
    /// `0;3X` (reset, then a colour), are recognised whole before the general parser, with the
    /// same effect (the measuring tests run both).
    fn escape_at(&mut self, bytes: &[u8], at: usize) -> usize {
        match bytes.get(at..) {
            Some([ESC, b'[', b'0', b'm', ..]) => {
                self.style = Style::default();
                at + 4
            }
            Some([ESC, b'[', b'0', b';', b'3', digit @ b'0'..=b'7', b'm', ..]) => {
                self.style = Style { fg: Some(PALETTE[usize::from(digit - b'0')]), ..Style::default() };
                at + 7
            }
            _ => {
                let (end, sgr) = sequence(bytes, at);
                if let Some(params) = sgr {
                    self.style.apply(params);
                }
                end
            }
        }
    }

    /// What `sync` would write, as JSON-escaped bytes, when the style may have `changed`.
    #[inline]
    fn sync_cost(&self, open: &mut Style, changed: &mut bool) -> usize {
        if !std::mem::take(changed) || *open == self.style {
            return 0;
        }
        let cost = open.close_cost() + self.style.open_cost();
        *open = self.style;
        cost
    }

    /// Makes the open tags match the current style before text is written. Tags are only opened
    /// in front of text, so style changes with nothing between them cost nothing.
    fn sync(&self, open: &mut Style, out: &mut String) {
        if *open != self.style {
            open.close(out);
            self.style.open(out);
            *open = self.style;
        }
    }
}

/// The sizes of a line's two renderings, as JSON-escaped bytes: what the line costs in a Matrix
/// event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineCost {
    /// `strip(line)` in a JSON string.
    pub plain: usize,
    /// The line's HTML in a JSON string.
    pub html: usize,
}

/// Whether `measure_line` stops at this byte: a byte that is dropped (an escape or another
/// control) or ends a line. Every other byte is text, kept in both renderings.
fn stops(b: u8) -> bool {
    // `&`/`|`, not `&&`/`||`: no branches, so that `chunk_scan` becomes vector compares.
    ((b < 0x20) & (b != b'\t')) | (b == 0x7f)
}

const SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// The high bit of each byte of `word` that equals `b`, exactly (no carry crosses a byte).
fn bytes_equal(word: u64, b: u8) -> u64 {
    let t = word ^ (LOW * u64::from(b));
    !(((t & SEVEN) + SEVEN) | t) & HIGH
}

/// Where the first stop of a 16-byte chunk at or after index `skip` is: eight bytes at a time,
/// with exact bit tricks rather than a byte loop, since nearly every line has two (its colour
/// codes).
fn first_stop(chunk: &[u8; 16], skip: usize) -> Option<usize> {
    let (low, high) = chunk.split_at(8);
    for (half, bytes) in [(0, low), (8, high)] {
        let Ok(bytes) = <[u8; 8]>::try_from(bytes) else {
            continue;
        };
        let word = u64::from_le_bytes(bytes);
        // High bit of each byte below 0x20 (the high bit of `word` rules out bytes from 0x80).
        let control = !(((word & SEVEN) + LOW * 0x60) | word) & HIGH;
        let mut hits = (control & !bytes_equal(word, b'\t')) | bytes_equal(word, 0x7f);
        // Bytes before `skip` were looked at already.
        let seen = skip.saturating_sub(half).min(8);
        hits &= u64::MAX.checked_shl(8 * seen as u32).unwrap_or(0);
        if hits != 0 {
            return Some(half + hits.trailing_zeros() as usize / 8);
        }
    }
    None
}

/// The text from `from` up to the next stop (or the end of `bytes`): where that stop is, and
/// what the text costs beyond one byte a byte, in plain text and in HTML (`byte_extra_costs`).
///
/// One pass, sixteen bytes at a time: each chunk is tested for stops and its costs summed
/// together. The last few bytes are looked at in the line's last sixteen, so that no byte loop
/// runs for them (nor a copy into a padded chunk, which stalls the load that follows it).
fn scan_text(bytes: &[u8], from: usize) -> (Option<usize>, usize, usize) {
    let (mut plain, mut html) = (0, 0);
    let mut i = from;
    while let Some(Ok(chunk)) = bytes.get(i..i + 16).map(<&[u8; 16]>::try_from) {
        let (any_stop, p, h) = chunk_scan(chunk);
        if any_stop && let Some(at) = first_stop(chunk, 0) {
            let (p, h) = chunk_extra_costs(chunk, 0, at);
            return (Some(i + at), plain + p, html + h);
        }
        plain += p;
        html += h;
        i += 16;
    }
    if i >= bytes.len() {
        return (None, plain, html);
    }
    let last = bytes.len().checked_sub(16).and_then(|start| Some((start, bytes.get(start..)?)));
    match last.map(|(start, last)| (start, <&[u8; 16]>::try_from(last))) {
        Some((start, Ok(last))) => {
            let skip = i - start;
            let at = first_stop(last, skip);
            let (p, h) = chunk_extra_costs(last, skip, at.unwrap_or(16));
            (at.map(|n| start + n), plain + p, html + h)
        }
        _ => {
            // A line shorter than sixteen bytes.
            for (n, &b) in bytes[i..].iter().enumerate() {
                if stops(b) {
                    return (Some(i + n), plain, html);
                }
                let (p, h) = byte_extra_costs(b);
                plain += usize::from(p);
                html += usize::from(h);
            }
            (None, plain, html)
        }
    }
}

/// Whether a 16-byte chunk holds a stop, and its bytes' `byte_extra_costs`: branch-free OR and
/// sums over a fixed-size array, which the compiler makes vector code (SSE2 on baseline
/// x86-64). The sums fit in a byte (at most 16 × 5).
fn chunk_scan(chunk: &[u8; 16]) -> (bool, usize, usize) {
    let mut any = 0u8;
    let mut plain = 0u8;
    let mut html = 0u8;
    for &b in chunk {
        any |= u8::from(stops(b));
        let (p, h) = byte_extra_costs(b);
        plain += p;
        html += h;
    }
    (any != 0, usize::from(plain), usize::from(html))
}

/// What a kept byte costs beyond one byte, in plain text and in HTML, branch-free: in plain text
/// JSON escapes quote, backslash and tab with one more byte; in HTML `<` and `>` become 4
/// bytes, `&` 5, a quote 6, and backslash and tab are escaped by JSON.
fn byte_extra_costs(b: u8) -> (u8, u8) {
    let quote = u8::from(b == b'"');
    let escaped = u8::from(b == b'\\') | u8::from(b == b'\t');
    let angle = u8::from(b == b'<') | u8::from(b == b'>');
    let amp = u8::from(b == b'&');
    (quote + escaped, 5 * quote + escaped + 3 * angle + 4 * amp)
}

/// `byte_extra_costs` summed over `chunk[from..to]`, branch-free like `chunk_scan`.
fn chunk_extra_costs(chunk: &[u8; 16], from: usize, to: usize) -> (usize, usize) {
    let mut plain = 0u8;
    let mut html = 0u8;
    for (k, &b) in chunk.iter().enumerate() {
        let counted = 0u8.wrapping_sub(u8::from(k >= from) & u8::from(k < to));
        let (p, h) = byte_extra_costs(b);
        plain += p & counted;
        html += h & counted;
    }
    (usize::from(plain), usize::from(html))
}

/// Records `line[start..end]` as kept text: remembered while it is the only piece, copied into
/// `buf` from the second piece on.
fn keep(line: &str, start: usize, end: usize, piece: &mut Option<(usize, usize)>, copied: &mut bool, buf: &mut String) {
    if *copied {
        buf.push_str(&line[start..end]);
    } else if let Some((first_start, first_end)) = *piece {
        buf.push_str(&line[first_start..first_end]);
        buf.push_str(&line[start..end]);
        *copied = true;
    } else {
        *piece = Some((start, end));
    }
}

/// Where `render_into` puts the stripped text, if anywhere.
trait Plain {
    fn push_str(&mut self, text: &str);
}

impl Plain for () {
    fn push_str(&mut self, _: &str) {}
}

impl Plain for String {
    fn push_str(&mut self, text: &str) {
        String::push_str(self, text);
    }
}

/// Renders a whole text; output lines are separated by `\n` and each is balanced on its own.
pub fn to_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + input.len() / 4 + 16);
    AnsiRenderer::new().render_line(input, &mut out);
    out
}

/// Renders a text into one balanced HTML string per line (split on `\n`).
pub fn to_html_lines(input: &str) -> Vec<String> {
    let mut renderer = AnsiRenderer::new();
    input
        .split('\n')
        .map(|line| {
            let mut out = String::with_capacity(line.len() + 16);
            renderer.render_line(line, &mut out);
            out
        })
        .collect()
}

/// Whether `strip` drops this byte on its own (escape sequences start with ESC, also dropped).
fn is_junk(b: u8) -> bool {
    (b < 0x20 && b != b'\n' && b != b'\t') || b == 0x7f
}

/// Removes every escape sequence and control character but tab and newline; borrows when there
/// is nothing to remove.
pub fn strip(input: &str) -> Cow<'_, str> {
    let bytes = input.as_bytes();
    let Some(first) = find(bytes, 0, false, is_junk) else {
        return Cow::Borrowed(input);
    };
    let mut out = String::with_capacity(input.len());
    let mut run = 0;
    let mut i = first;
    loop {
        // `i` is at an ASCII byte and sequences end on char boundaries: slices are valid.
        out.push_str(&input[run..i]);
        i = if bytes[i] == ESC { sequence(bytes, i).0 } else { i + 1 };
        run = i;
        match find(bytes, i, false, is_junk) {
            Some(at) => i = at,
            None => break,
        }
    }
    out.push_str(&input[run..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RED: &str = "<span data-mx-color=\"#cc0000\">";

    #[test]
    fn sgr_features_table() {
        let cases: &[(&str, &str)] = &[
            ("plain", "plain"),
            ("\x1b[31mred\x1b[0m", "<span data-mx-color=\"#cc0000\">red</span>"),
            ("\x1b[30mk\x1b[37mw", "<span data-mx-color=\"#000000\">k</span><span data-mx-color=\"#d3d7cf\">w</span>"),
            ("\x1b[1;32mok\x1b[0m", "<span data-mx-color=\"#4e9a06\"><b>ok</b></span>"),
            ("\x1b[91mbright\x1b[39m", "<span data-mx-color=\"#ef2929\">bright</span>"),
            ("\x1b[97mx", "<span data-mx-color=\"#eeeeec\">x</span>"),
            ("\x1b[44mbg\x1b[49m", "<span data-mx-bg-color=\"#3465a4\">bg</span>"),
            ("\x1b[105mbg", "<span data-mx-bg-color=\"#ad7fa8\">bg</span>"),
            ("\x1b[31;42mx", "<span data-mx-color=\"#cc0000\" data-mx-bg-color=\"#4e9a06\">x</span>"),
            (
                "\x1b[31;42mx\x1b[39my",
                "<span data-mx-color=\"#cc0000\" data-mx-bg-color=\"#4e9a06\">x</span><span data-mx-bg-color=\"#4e9a06\">y</span>",
            ),
            ("\x1b[38;5;1mx", "<span data-mx-color=\"#cc0000\">x</span>"),
            ("\x1b[38;5;16mx", "<span data-mx-color=\"#000000\">x</span>"),
            ("\x1b[38;5;196mx", "<span data-mx-color=\"#ff0000\">x</span>"),
            ("\x1b[38;5;110mx", "<span data-mx-color=\"#87afd7\">x</span>"),
            ("\x1b[38;5;231mx", "<span data-mx-color=\"#ffffff\">x</span>"),
            ("\x1b[38;5;232mx", "<span data-mx-color=\"#080808\">x</span>"),
            ("\x1b[38;5;244mx", "<span data-mx-color=\"#808080\">x</span>"),
            ("\x1b[38;5;255mx", "<span data-mx-color=\"#eeeeee\">x</span>"),
            ("\x1b[48;5;21mx", "<span data-mx-bg-color=\"#0000ff\">x</span>"),
            ("\x1b[38;2;1;2;3mx", "<span data-mx-color=\"#010203\">x</span>"),
            ("\x1b[48;2;255;255;255mx", "<span data-mx-bg-color=\"#ffffff\">x</span>"),
            ("\x1b[38:2::10:20:30mx", "<span data-mx-color=\"#0a141e\">x</span>"),
            ("\x1b[38:2:10:20:30mx", "<span data-mx-color=\"#0a141e\">x</span>"),
            ("\x1b[38:5:196mx", "<span data-mx-color=\"#ff0000\">x</span>"),
            ("\x1b[4:3mcurly\x1b[4:0m", "<u>curly</u>"),
            ("\x1b[3mi\x1b[23m \x1b[4mu\x1b[24m", "<i>i</i> <u>u</u>"),
            ("\x1b[1mb\x1b[22mn", "<b>b</b>n"),
            ("\x1b[9ms\x1b[29m", "<del>s</del>"),
            ("\x1b[1;3;4;9;31mall", "<span data-mx-color=\"#cc0000\"><b><i><u><del>all</del></u></i></b></span>"),
            ("\x1b[1mb\x1b[mreset", "<b>b</b>reset"),
            ("\x1b[1mb\x1b[;31mx", "<b>b</b><span data-mx-color=\"#cc0000\">x</span>"),
            // A style change between two runs closes the old set and opens the new one whole.
            (
                "\x1b[31ma\x1b[1mb",
                "<span data-mx-color=\"#cc0000\">a</span><span data-mx-color=\"#cc0000\"><b>b</b></span>",
            ),
            // Style changes with no text in between produce no empty tags.
            ("\x1b[31m\x1b[32m\x1b[0mx\x1b[1m", "x"),
            ("\x1b[2;5;7;8;53;73munknown codes\x1b[m", "unknown codes"),
            ("\x1b[58;5;31mnot red", "not red"),
            ("\x1b[58;2;200;0;0;1mb", "<b>b</b>"),
            ("\x1b[38;2;300;0;0mx", "x"),
            ("\x1b[38;5;256mx", "x"),
            ("\x1b[38;5mbroken", "broken"),
            ("\x1b[38;9;1mx", "<b>x</b>"),
            ("\x1b[99999999999999999999mx", "x"),
            ("\x1b[>4;2mnot sgr", "not sgr"),
            ("\x1b[ mx", "x"),
            ("\x1b[2Kcleared\x1b]0;title\x07", "cleared"),
            ("\x1b[?25l\x1b[1A\x1b[Gx", "x"),
            ("\x1b(B\x1b[mtput reset", "tput reset"),
            ("\x1b7saved\x1b8", "saved"),
            ("a<b>&\"c\"'", "a&lt;b&gt;&amp;&quot;c&quot;'"),
            ("\x1b[31m<x>\x1b[0m", "<span data-mx-color=\"#cc0000\">&lt;x&gt;</span>"),
            ("\x1b[", ""),
            ("\x1b", ""),
            ("\x1bé", "é"),
            ("\x1b[31é", "é"),
            ("\x1b]0;tïtle", ""),
            ("carriage\r", "carriage"),
            ("bell\x07 back\x08 del\x7f tab\t", "bell back del tab\t"),
        ];
        for (input, expected) in cases {
            assert_eq!(to_html(input), *expected, "input {input:?}");
        }
    }

    #[test]
    fn styles_carry_over_lines_and_every_line_is_balanced() {
        let html = to_html("\x1b[1;33mwarning: one\ntwo\x1b[0m\nthree\n\x1b[4mfour\n\nfive");
        let lines: Vec<&str> = html.split('\n').collect();
        assert_eq!(
            lines,
            [
                "<span data-mx-color=\"#c4a000\"><b>warning: one</b></span>",
                "<span data-mx-color=\"#c4a000\"><b>two</b></span>",
                "three",
                "<u>four</u>",
                "",
                "<u>five</u>",
            ]
        );
        assert_eq!(to_html_lines("\x1b[1;33mwarning: one\ntwo\x1b[0m\nthree\n\x1b[4mfour\n\nfive"), lines);
    }

    #[test]
    fn the_line_renderer_carries_the_style_and_can_be_reset() {
        let mut renderer = AnsiRenderer::new();
        let mut out = String::new();
        renderer.render_line("\x1b[31mred", &mut out);
        assert!(!renderer.is_plain());
        out.push('|');
        renderer.render_line("still red", &mut out);
        assert_eq!(out, format!("{RED}red</span>|{RED}still red</span>"));
        renderer.reset();
        out.clear();
        renderer.render_line("plain", &mut out);
        assert_eq!(out, "plain");
    }

    #[test]
    fn a_broken_sequence_does_not_eat_the_next_line() {
        assert_eq!(to_html("a\x1b[12\nb"), "a\nb");
        assert_eq!(to_html("a\x1b]8;;http://x\nb"), "a\nb");
        assert_eq!(strip("a\x1b[\nnext line m"), "a\nnext line m");
        assert_eq!(strip("a\x1b]0;title\x1b[31mb"), "ab");
    }

    #[test]
    fn strip_removes_escapes_and_borrows_clean_text() {
        assert_eq!(strip("\x1b[0;33mchanged: [localhost]\x1b[0m"), "changed: [localhost]");
        assert_eq!(strip("\x1b[0;32mok: [web-01] => (item=nginx)\x1b[0m\r\n"), "ok: [web-01] => (item=nginx)\n");
        assert_eq!(
            strip("\x1b[1;31mfatal: [db]: FAILED! => {\"msg\": \"<boom>\"}\x1b[0m"),
            "fatal: [db]: FAILED! => {\"msg\": \"<boom>\"}"
        );
        assert_eq!(strip("\x1b[0;36mskipping: [localhost]\x1b[0m"), "skipping: [localhost]");
        assert_eq!(strip("a\x1b]0;t\x1b\\b\x1b[Kc\x1b(Bd"), "abcd");
        assert_eq!(strip("\x1b]8;;https://x.org\x1b\\link\x1b]8;;\x1b\\"), "link");
        assert!(matches!(strip("clean <text>\twith tab\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn ansible_log_snapshot() {
        let log = "\
\x1b[0;32m\x1b[0m
PLAY [Deploy web tier] *********************************************************

TASK [Gathering Facts] *********************************************************
\x1b[0;32mok: [web-01]\x1b[0m
\x1b[0;32mok: [web-02]\x1b[0m

TASK [nginx : Install packages] ************************************************
\x1b[0;33mchanged: [web-01] => (item=nginx)\x1b[0m
\x1b[0;32mok: [web-02] => (item=nginx)\x1b[0m

TASK [nginx : Template config] *************************************************
\x1b[1;35m[WARNING]: The value \"<none>\" & friends
is not a string\x1b[0m
\x1b[0;31mfatal: [web-02]: FAILED! => {\"changed\": false, \"msg\": \"Could not find <nginx.conf.j2>\"}\x1b[0m
\x1b[0;36m...ignoring\x1b[0m
\x1b[38;5;208mdeprecated: 256 colours\x1b[39m and \x1b[38;2;0;128;255mtrue colour\x1b[0m

PLAY RECAP *********************************************************************
\x1b[0;33mweb-01\x1b[0m                     : \x1b[0;32mok=3   \x1b[0m \x1b[0;33mchanged=1   \x1b[0m unreachable=0    failed=0    skipped=0
\x1b[0;31mweb-02\x1b[0m                     : \x1b[0;32mok=2   \x1b[0m changed=0    unreachable=0    \x1b[0;31mfailed=1   \x1b[0m skipped=0
";
        insta::assert_snapshot!(to_html(log));
    }

    /// Length in a JSON string, written out here so the test does not lean on the pager's.
    fn json_len(text: &str) -> usize {
        text.chars()
            .map(|c| match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                c if u32::from(c) < 0x20 => 6,
                c => c.len_utf8(),
            })
            .sum()
    }

    #[test]
    fn measuring_counts_tags_entities_and_escapes() {
        let mut renderer = AnsiRenderer::new();
        let mut buf = String::new();
        let line = "\x1b[1;31;42mred \"<b>\"\x1b[0m\tand\\ \x1b[4mx";
        let (text, cost) = renderer.measure_line(line, &mut buf);
        assert_eq!(text, "red \"<b>\"\tand\\ x");
        let mut html = String::new();
        AnsiRenderer::new().render_line(line, &mut html);
        assert_eq!(cost, LineCost { plain: json_len(text), html: json_len(&html) });
        // One colour around the text: the stripped text is a slice of the line, not a copy.
        let (text, _) = renderer.measure_line("\x1b[0;32mok: [web]\x1b[0m", &mut buf);
        assert_eq!(text, "ok: [web]");
        assert!(buf.is_empty());
    }

    /// Whether the span/b/i/u/del tags of one line open and close in properly nested order.
    fn balanced(line: &str) -> bool {
        let mut stack = Vec::new();
        let mut rest = line;
        while let Some(start) = rest.find('<') {
            let Some(end) = rest[start..].find('>') else {
                return false;
            };
            let tag = &rest[start + 1..start + end];
            rest = &rest[start + end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                if stack.pop() != Some(name) {
                    return false;
                }
            } else {
                let name = tag.split(' ').next().unwrap_or_default();
                if !matches!(name, "span" | "b" | "i" | "u" | "del") {
                    return false;
                }
                stack.push(name);
            }
        }
        stack.is_empty()
    }

    /// The text of rendered HTML, as a reader would see it.
    fn text_of(html: &str) -> String {
        let mut text = String::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            text.push_str(&rest[..start]);
            rest = rest[start..].split_once('>').map_or("", |(_, after)| after);
        }
        text.push_str(rest);
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&")
    }

    fn ansi_soup() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                "\\PC{0,12}",
                "[\\x00-\\x7f]{0,6}",
                "\x1b\\[[0-9;:]{0,12}[@-~]?",
                "\x1b[\\]P_X^(][ -~]{0,8}(\x07|\x1b\\\\)?",
                Just("\x1b[0m".to_owned()),
                "\x1b\\[0;[39][0-9]m",
                Just("\x1b[0;3".to_owned()),
                Just("\x1b[1m".to_owned()),
                Just("\x1b[31m".to_owned()),
                Just("\x1b[38;5;200m".to_owned()),
                Just("\x1b[48;2;1;2;3m".to_owned()),
                Just("\x1b[4;3;9m".to_owned()),
                Just("\x1b[22;23m".to_owned()),
                Just("\x1b".to_owned()),
                Just("\n".to_owned()),
                Just("<&>\"".to_owned()),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn rendering_never_panics_and_is_balanced_per_line(input in ansi_soup()) {
            let html = to_html(&input);
            for line in html.split('\n') {
                prop_assert!(balanced(line), "unbalanced: {line:?} from {input:?}");
            }
            prop_assert_eq!(html.matches('\n').count(), input.matches('\n').count());
            prop_assert_eq!(to_html_lines(&input).join("\n"), html.clone());
            let text = strip(&input);
            prop_assert!(!text.contains('\x1b'));
            let (mut both, mut plain) = (String::new(), String::new());
            AnsiRenderer::new().render_line_and_strip(&input, &mut both, &mut plain);
            prop_assert_eq!(&both, &html);
            prop_assert_eq!(&plain, &text);
            prop_assert_eq!(text_of(&html), text.into_owned());
        }

        #[test]
        fn arbitrary_text_never_panics(input in any::<String>()) {
            let html = to_html(&input);
            prop_assert!(html.split('\n').all(balanced));
            let _ = strip(&input);
        }

        #[test]
        fn the_word_scan_finds_what_a_byte_scan_finds(bytes in prop::collection::vec(any::<u8>(), 0..40), from in 0usize..40) {
            let from = from.min(bytes.len());
            let special = |b: u8| CLASS[usize::from(b)] != TEXT;
            let naive = bytes[from..].iter().position(|&b| special(b)).map(|n| from + n);
            prop_assert_eq!(find(&bytes, from, true, special), naive);
            let naive = bytes[from..].iter().position(|&b| is_junk(b)).map(|n| from + n);
            prop_assert_eq!(find(&bytes, from, false, is_junk), naive);
        }

        #[test]
        fn the_chunked_scan_finds_and_counts_what_a_byte_loop_does(bytes in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'"'), Just(b'<'), Just(b'\t'), Just(0x1b)], 0..70), from in 0usize..70) {
            let from = from.min(bytes.len());
            let stop = bytes[from..].iter().position(|&b| (b < 0x20 && b != b'\t') || b == 0x7f).map(|n| from + n);
            let text = &bytes[from..stop.unwrap_or(bytes.len())];
            let plain = text.iter().filter(|&&b| matches!(b, b'"' | b'\\' | b'\t')).count();
            let html: usize = text
                .iter()
                .map(|&b| match b {
                    b'<' | b'>' => 3,
                    b'&' => 4,
                    b'"' => 5,
                    b'\\' | b'\t' => 1,
                    _ => 0,
                })
                .sum();
            prop_assert_eq!(scan_text(&bytes, from), (stop, plain, html));
        }

        #[test]
        fn measuring_agrees_with_rendering_and_stripping(lines in prop::collection::vec(ansi_soup(), 0..6)) {
            let mut rendering = AnsiRenderer::new();
            let mut measuring = AnsiRenderer::new();
            let mut advancing = AnsiRenderer::new();
            let mut buf = String::new();
            for line in &lines {
                let mut html = String::new();
                rendering.render_line(line, &mut html);
                let plain = strip(line);
                let (text, cost) = measuring.measure_line(line, &mut buf);
                prop_assert_eq!(text, plain.as_ref());
                prop_assert_eq!(cost, LineCost { plain: json_len(&plain), html: json_len(&html) }, "{:?}", line);
                advancing.advance(line);
                prop_assert_eq!(measuring.style, rendering.style);
                prop_assert_eq!(advancing.style, rendering.style);
            }
        }

        #[test]
        fn input_markup_is_always_escaped(text in "[^\x1b]{0,80}") {
            let html = to_html(&text);
            prop_assert_eq!(html.matches('<').count(), 0, "{}", html);
        }
    }
}
