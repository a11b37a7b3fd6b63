//! Bar charts as PNG, drawn in-process for `stats`: one bar per day, stacked by result (or one
//! value, e.g. a duration). No fonts are needed: the few labels a chart carries (numbers on the
//! axes) are drawn with a 3×5 pixel digit font; everything else is in the message beside it,
//! which holds the same numbers as text.

/// An RGB colour.
pub type Rgb = [u8; 3];

pub const GREEN: Rgb = [0x4e, 0x9a, 0x06];
pub const RED: Rgb = [0xcc, 0x00, 0x00];
pub const GREY: Rgb = [0x88, 0x8a, 0x85];
pub const BLUE: Rgb = [0x34, 0x65, 0xa4];
const INK: Rgb = [0x2e, 0x34, 0x36];
const RULE: Rgb = [0xd3, 0xd7, 0xcf];
const PAPER: Rgb = [0xff, 0xff, 0xff];

/// What a chart shows: bars left to right, each stacked bottom up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// Drawn after the numbers of the value axis (`s` for seconds); digits, `-`, `%`, `s`, `m`,
    /// `h` only.
    pub unit: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Under the bar (digits and `-`), e.g. the day of the month.
    pub label: String,
    pub segments: Vec<(u64, Rgb)>,
}

pub const WIDTH: u32 = 640;
pub const HEIGHT: u32 = 320;
const LEFT: u32 = 56;
const RIGHT: u32 = 12;
const TOP: u32 = 16;
const BOTTOM: u32 = 28;
/// Pixels per font dot.
const SCALE: u32 = 2;

struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        let mut pixels = Vec::with_capacity((WIDTH * HEIGHT * 3) as usize);
        for _ in 0..WIDTH * HEIGHT {
            pixels.extend_from_slice(&PAPER);
        }
        Self { pixels }
    }

    fn rect(&mut self, x: u32, y: u32, w: u32, h: u32, colour: Rgb) {
        for row in y..(y + h).min(HEIGHT) {
            for col in x..(x + w).min(WIDTH) {
                let i = ((row * WIDTH + col) * 3) as usize;
                self.pixels[i..i + 3].copy_from_slice(&colour);
            }
        }
    }

    /// Text of the digit font, its top-left at (x, y).
    fn text(&mut self, x: u32, y: u32, text: &str) {
        let mut cursor = x;
        for c in text.chars() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for col in 0..3u32 {
                    if bits & (0b100 >> col) != 0 {
                        self.rect(cursor + col * SCALE, y + row as u32 * SCALE, SCALE, SCALE, INK);
                    }
                }
            }
            cursor += 4 * SCALE;
        }
    }
}

/// How wide `text` is in the digit font.
fn text_width(text: &str) -> u32 {
    (text.chars().count() as u32 * 4).saturating_sub(1) * SCALE
}

fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b001, 0b001, 0b001],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '%' => [0b101, 0b001, 0b010, 0b100, 0b101],
        's' => [0b011, 0b100, 0b010, 0b001, 0b110],
        'm' => [0b000, 0b110, 0b111, 0b101, 0b101],
        'h' => [0b100, 0b100, 0b111, 0b101, 0b101],
        _ => [0; 5],
    }
}

/// The value axis' top: the largest value rounded up to 1, 2 or 5 times a power of ten.
pub fn axis_top(largest: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            let top = step.saturating_mul(m);
            if top >= largest || top == u64::MAX {
                return top.max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// The chart's pixels, row by row, RGB.
pub fn draw(chart: &Chart) -> Vec<u8> {
    let mut canvas = Canvas::new();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let largest = chart.bars.iter().map(|b| b.segments.iter().map(|(v, _)| v).sum::<u64>()).max().unwrap_or(0);
    let top = axis_top(largest);
    // Rules at 0, half and the top, each numbered.
    for (value, y) in [(0, TOP + plot_h), (top / 2, TOP + plot_h / 2), (top, TOP)] {
        canvas.rect(LEFT, y, plot_w, 1, RULE);
        let label = format!("{value}{}", chart.unit);
        canvas.text(LEFT.saturating_sub(text_width(&label) + 6), y.saturating_sub(5), &label);
    }
    let count = chart.bars.len().max(1) as u32;
    let slot = plot_w / count;
    let width = (slot * 3 / 4).max(1);
    // Every bar's label when they fit, else every n-th.
    let every = (text_width("00") + 4).div_ceil(slot.max(1)).max(1);
    for (i, bar) in chart.bars.iter().enumerate() {
        let x = LEFT + i as u32 * slot + (slot - width) / 2;
        let mut base = TOP + plot_h;
        for (value, colour) in &bar.segments {
            let h = (u128::from(*value) * u128::from(plot_h) / u128::from(top)) as u32;
            base = base.saturating_sub(h);
            canvas.rect(x, base, width, h, *colour);
        }
        if (i as u32).is_multiple_of(every) {
            let w = text_width(&bar.label);
            canvas.text((x + width / 2).saturating_sub(w / 2), TOP + plot_h + 8, &bar.label);
        }
    }
    canvas.pixels
}

/// The chart as a PNG file.
pub fn png(chart: &Chart) -> Result<Vec<u8>, png::EncodingError> {
    let pixels = draw(chart);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        let table = [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (45, 50), (51, 100), (1_234, 2_000)];
        for (largest, top) in table {
            assert_eq!(axis_top(largest), top, "{largest}");
        }
    }

    #[test]
    fn a_chart_decodes_as_a_png_of_its_size_with_its_bars_in_their_colours() {
        let chart = Chart {
            bars: (1..=7).map(|d| Bar { label: d.to_string(), segments: vec![(d, GREEN), (1, RED)] }).collect(),
            unit: "",
        };
        let bytes = png(&chart).unwrap();
        // To look at one: CHATRIXCD_CHART_OUT=/tmp/chart.png cargo test -p chatrixcd-domain chart
        if let Some(path) = std::env::var_os("CHATRIXCD_CHART_OUT") {
            std::fs::write(path, &bytes).unwrap();
        }
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let has = |c: Rgb| pixels.chunks(3).any(|p| p == c);
        assert!(has(GREEN) && has(RED) && has(INK), "bars and labels are drawn");
        assert!(!has(GREY), "no colour that is not in the chart");
    }
}
