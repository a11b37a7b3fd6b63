//! Rendering task logs: throughput on a large Ansible log and peak memory on a 100 MB one.
//!
//! `cargo bench -p chatrixcd-domain --bench render`; results in docs/performance.md.
//! `RENDER_MB` (default 20) sets the size of the throughput log, `RENDER_PEAK_MB` (default 100)
//! the size of the memory log.
//!
//! The log is generated from a fixed seed: plays of tasks over 30 hosts, coloured ok / changed /
//! skipping lines, loop items, JSON results, warnings, a failure now and then, a PLAY RECAP.
//!
//! Peak memory is the kernel's high-water mark of resident memory (`VmHWM`, reset through
//! `/proc/self/clear_refs`), above what the process held before rendering started. A counting
//! global allocator would need `unsafe impl GlobalAlloc`, which the workspace forbids.
#![allow(clippy::print_stdout)] // a benchmark reports on stdout

use std::hint::black_box;
use std::time::{Duration, Instant};

use chatrixcd_domain::redact::Redactor;
use chatrixcd_domain::render::ansi::AnsiRenderer;
use chatrixcd_domain::render::log::{Layout, LogDocument, Selection};
use chatrixcd_ports::semaphore::TaskLog;

/// The page budget `logs` uses with the default 48 KiB message limit (less its header reserve).
const BUDGET: usize = 48 * 1024 - 2_048 - 256;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STAR_WIDTH: usize = 80;

fn banner(out: &mut String, title: &str) {
    out.push_str(title);
    out.push(' ');
    for _ in 0..STAR_WIDTH.saturating_sub(title.len() + 1).max(3) {
        out.push('*');
    }
    out.push('\n');
}

/// An Ansible log of about `bytes` bytes.
fn ansible_log(bytes: usize) -> String {
    const MODULES: [&str; 8] = ["apt", "template", "copy", "systemd", "user", "lineinfile", "command", "file"];
    const ITEMS: [&str; 6] = ["nginx", "postgresql-16", "redis-server", "chrony", "fail2ban", "unattended-upgrades"];
    let hosts: Vec<String> = (1..=30).map(|h| format!("web-{h:02}.prod.example.com")).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = String::with_capacity(bytes + 64 * 1024);
    out.push_str("Task 4242 added to queue\nStarted: 4242\nRun TaskRunner with template: site\n");
    let mut play = 0;
    while out.len() < bytes {
        play += 1;
        out.push('\n');
        banner(&mut out, &format!("PLAY [Converge web tier, wave {play}]"));
        for task in 0..40 {
            out.push('\n');
            let module = MODULES[(rng.below(8)) as usize];
            banner(&mut out, &format!("TASK [role_{} : {module} step {task}]", task % 7));
            let looped = rng.below(4) == 0;
            for host in &hosts {
                let items: &[&str] = if looped { &ITEMS } else { &[""] };
                for item in items {
                    let roll = rng.below(100);
                    let suffix = if item.is_empty() { String::new() } else { format!(" => (item={item})") };
                    match roll {
                        0 => out.push_str(&format!(
                            "\x1b[0;31mfatal: [{host}]: FAILED! => {{\"changed\": false, \"msg\": \"{module} failed: exit status {}\", \"rc\": 1}}\x1b[0m\n",
                            rng.below(3) + 1
                        )),
                        1..=2 => out.push_str(&format!(
                            "\x1b[1;35m[WARNING]: Module did not set no_log for {module}_password on {host}\x1b[0m\n"
                        )),
                        3..=20 => out.push_str(&format!("\x1b[0;33mchanged: [{host}]{suffix}\x1b[0m\n")),
                        21..=30 => out.push_str(&format!("\x1b[0;36mskipping: [{host}]{suffix}\x1b[0m\n")),
                        31..=35 => out.push_str(&format!(
                            "\x1b[0;32mok: [{host}] => {{\"changed\": false, \"checksum\": \"{:016x}\", \"dest\": \"/etc/app/{module}.conf\", \"mode\": \"0644\"}}\x1b[0m\n",
                            rng.next()
                        )),
                        _ => out.push_str(&format!("\x1b[0;32mok: [{host}]{suffix}\x1b[0m\n")),
                    }
                }
            }
            if out.len() >= bytes {
                break;
            }
        }
    }
    out.push('\n');
    banner(&mut out, "PLAY RECAP");
    for host in &hosts {
        out.push_str(&format!(
            "\x1b[0;33m{host:<26}\x1b[0m : \x1b[0;32mok={:<4}\x1b[0m \x1b[0;33mchanged={:<4}\x1b[0m unreachable=0    failed={}    \x1b[0;36mskipped={:<4}\x1b[0m rescued=0    ignored=0   \n",
            rng.below(2000),
            rng.below(500),
            rng.below(2),
            rng.below(300)
        ));
    }
    out
}

fn lines(log: &str) -> Vec<&str> {
    let log = log.strip_suffix('\n').unwrap_or(log);
    // Sized up front: a growing vector would leave freed buffers that later look like free memory.
    let mut lines = Vec::with_capacity(log.bytes().filter(|&b| b == b'\n').count() + 1);
    lines.extend(log.split('\n'));
    lines
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

fn rate(bytes: usize, time: Duration) -> f64 {
    mb(bytes) / time.as_secs_f64()
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Reads a `kB` field of /proc/self/status, in bytes.
fn status_bytes(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the kernel's resident high-water mark to the current resident size.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Everything `logs` could post for the log: the analysis, the pages, and every page rendered.
fn render_all(lines: &[&str]) -> (usize, usize) {
    let doc = LogDocument::new(lines);
    let paged = doc.paginate(Selection::Range(0..lines.len()), Layout::Structured, BUDGET);
    let mut bytes = 0;
    for n in 0..paged.page_count() {
        if let Some(page) = doc.render_page(&paged, n) {
            bytes += page.plain.len() + page.html.len();
            black_box(&page);
        }
    }
    (paged.page_count(), bytes)
}

/// What one `logs` command does: analyse, paginate, render the last page.
fn render_last(lines: &[&str]) -> usize {
    let doc = LogDocument::new(lines);
    let paged = doc.paginate(Selection::Range(0..lines.len()), Layout::Structured, BUDGET);
    let page = doc.render_page(&paged, paged.page_count() - 1);
    black_box(page).map_or(0, |p| p.html.len())
}

fn env_mb(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if std::env::var_os("RENDER_PEAK_CHILD").is_some() {
        peak();
        return;
    }
    let size = env_mb("RENDER_MB", 20) * 1_000_000;
    let log = ansible_log(size);
    let all = lines(&log);
    if let Ok(phase) = std::env::var("RENDER_PROFILE") {
        profile(&phase, &all);
        return;
    }
    if std::env::var_os("RENDER_DIGEST").is_some() {
        digest(&all);
        return;
    }
    let doc = LogDocument::new(&all);
    let summary = doc.summary();
    println!(
        "Ansible log: {:.1} MB, {} lines, {} error lines, {} warnings",
        mb(log.len()),
        all.len(),
        summary.errors,
        summary.warnings
    );
    drop(doc);

    let ansi = median(5, || {
        let mut renderer = AnsiRenderer::new();
        let mut out = String::with_capacity(4096);
        for line in &all {
            out.clear();
            renderer.render_line(line, &mut out);
            black_box(&out);
        }
    });
    let analyse = median(5, || {
        black_box(LogDocument::new(&all));
    });
    let mut pages = (0, 0);
    let whole = median(5, || pages = render_all(&all));
    let last = median(5, || {
        black_box(render_last(&all));
    });
    println!("ANSI to HTML alone, line by line      {:>8.1} MB/s", rate(log.len(), ansi));
    println!("analysis (LogDocument::new)           {:>8.1} MB/s", rate(log.len(), analyse));
    println!(
        "analyse + paginate + render all pages {:>8.1} MB/s  ({} pages, {:.1} MB of plain + HTML)",
        rate(log.len(), whole),
        pages.0,
        mb(pages.1)
    );
    println!(
        "one `logs` (last page)                {:>8.1} MB/s  ({:.0} ms)",
        rate(log.len(), last),
        last.as_secs_f64() * 1e3
    );
    // The same from the log as `logs` holds it: packed in LZ4 blocks (chatrixcd_ports::TaskLog).
    let mut packed = TaskLog::new();
    let packing = median(5, || packed = TaskLog::from_entries(&all).unwrap_or_default());
    println!("packing the log (TaskLog, as it arrives) {:>6.1} MB/s", rate(log.len(), packing));
    let packed_last = median(5, || {
        let doc = LogDocument::new(&packed);
        let paged = doc.paginate(Selection::Range(0..packed.len()), Layout::Structured, BUDGET);
        black_box(doc.render_page(&paged, paged.page_count() - 1));
    });
    let unpack = median(5, || {
        let mut bytes = 0;
        packed.each_line(0..packed.len(), &mut |_, line| bytes += black_box(line).len());
        black_box(bytes);
    });
    println!("reading every line of the packed log   {:>8.1} MB/s", rate(log.len(), unpack));
    let packed_analysis = median(5, || {
        black_box(LogDocument::new(&packed));
    });
    println!("analysis of the packed log             {:>8.1} MB/s", rate(log.len(), packed_analysis));
    println!(
        "one `logs` from the packed log        {:>8.1} MB/s  ({:.0} ms; the log held in {:.1} MB)",
        rate(log.len(), packed_last),
        packed_last.as_secs_f64() * 1e3,
        mb(packed.held_bytes())
    );
    // What `logs` does before rendering: every line redacted, in order (one configured secret).
    let redactor = Redactor::new(["a-configured-api-token".to_owned()]);
    let mut masked = 0;
    let redaction = median(5, || masked = redactor.lines().redact_all(all.iter().copied()).len());
    println!(
        "redaction of every line               {:>8.1} MB/s  ({:.0} ms, {masked} lines masked)",
        rate(log.len(), redaction),
        redaction.as_secs_f64() * 1e3
    );
    // The memory run gets a fresh process: this one's heap keeps what the runs above freed.
    let Ok(exe) = std::env::current_exe() else {
        println!("peak memory: cannot find this benchmark's binary; not measured");
        return;
    };
    match std::process::Command::new(exe).env("RENDER_PEAK_CHILD", "1").status() {
        Ok(status) if status.success() => {}
        other => println!("peak memory run failed: {other:?}"),
    }
}

/// One phase, run over and over for a profiler (`perf record`): `RENDER_PROFILE=analysis`,
/// `paginate`, `last` (one `logs` command), `all` (every page) or `packed` (one `logs` command
/// on the log packed as `logs` holds it); `RENDER_RUNS` times (20).
fn profile(phase: &str, lines: &[&str]) {
    let runs = env_mb("RENDER_RUNS", 20);
    let doc = LogDocument::new(lines);
    let packed = TaskLog::from_entries(lines).unwrap_or_default();
    let start = Instant::now();
    for _ in 0..runs {
        match phase {
            "packed" => {
                let doc = LogDocument::new(&packed);
                let paged = doc.paginate(Selection::Range(0..packed.len()), Layout::Structured, BUDGET);
                drop(black_box(doc.render_page(&paged, paged.page_count() - 1)));
            }
            "analysis" => drop(black_box(LogDocument::new(lines))),
            "paginate" => drop(black_box(doc.paginate(Selection::Range(0..lines.len()), Layout::Structured, BUDGET))),
            "last" => drop(black_box(render_last(lines))),
            "all" => drop(black_box(render_all(lines))),
            other => {
                println!("RENDER_PROFILE={other}: expected analysis, paginate, last, all or packed");
                return;
            }
        }
    }
    println!("{phase}: {:.1} ms a run", start.elapsed().as_secs_f64() * 1e3 / runs as f64);
}

/// A hash of every page of several paginations (whole log, tail, filtered, small and large
/// budgets) of the generated log and of the renderer's test logs: run it before and after a
/// change to check that the output stayed byte for byte the same (`RENDER_DIGEST=1`).
fn digest(lines: &[&str]) {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let samples = [
        include_str!("../src/render/testdata/ansible.log"),
        include_str!("../src/render/testdata/terraform_plan.log"),
        include_str!("../src/render/testdata/terraform_apply.log"),
        include_str!("../src/render/testdata/shell.log"),
    ]
    .concat()
    .repeat(40);
    let samples: Vec<&str> = samples.split('\n').collect();
    for (name, log) in [("generated", lines), ("samples", &samples[..])] {
        let doc = LogDocument::new(log);
        let mut hasher = DefaultHasher::new();
        format!("{:?}", doc.summary()).hash(&mut hasher);
        let problems: Vec<usize> = (0..log.len())
            .filter(|&n| doc.emphasis(n).is_some_and(|e| e != chatrixcd_domain::render::log::Emphasis::Plain))
            .collect();
        let sparse: Vec<usize> = (0..log.len()).filter(|n| n % 7 == 3).collect();
        let runs = [
            (Selection::Range(0..log.len()), Layout::Structured, BUDGET),
            (Selection::Range(0..log.len()), Layout::Structured, 8_192),
            (Selection::Range(log.len().saturating_sub(5_000)..log.len()), Layout::Structured, 8_192),
            (Selection::Lines(problems), Layout::Flat, BUDGET),
            (Selection::Lines(sparse), Layout::Flat, 20_000),
        ];
        let mut pages = 0;
        for (selection, layout, budget) in runs {
            let paged = doc.paginate(selection, layout, budget);
            for n in 0..paged.page_count() {
                if let Some(page) = doc.render_page(&paged, n) {
                    (&page.plain, &page.html, page.first_line, page.last_line, page.line_count, page.cost)
                        .hash(&mut hasher);
                    pages += 1;
                }
            }
        }
        println!("{name}: {pages} pages, digest {:016x}", hasher.finish());
    }
}

/// The 100 MB run, alone in its process.
fn peak() {
    let size = env_mb("RENDER_PEAK_MB", 100) * 1_000_000;
    let log = ansible_log(size);
    let all = lines(&log);
    let input = log.capacity() + all.capacity() * std::mem::size_of::<&str>();
    let resident = status_bytes("VmRSS:");
    if !reset_peak() {
        println!("peak memory: /proc/self/clear_refs is not writable here; not measured");
        return;
    }
    let start = Instant::now();
    let (pages, bytes) = render_all(&all);
    let took = start.elapsed();
    let peak = status_bytes("VmHWM:");
    println!(
        "{:.1} MB log ({} lines, held as {:.1} MB): all {pages} pages ({:.1} MB) in {:.2} s = {:.1} MB/s",
        mb(log.len()),
        all.len(),
        mb(input),
        mb(bytes),
        took.as_secs_f64(),
        rate(log.len(), took)
    );
    let doc = LogDocument::new(&all);
    println!(
        "analysis index kept while paging: {:.1} MB ({:.1} bytes a line)",
        mb(doc.index_bytes()),
        doc.index_bytes() as f64 / all.len() as f64
    );
    drop(doc);
    match (resident, peak) {
        (Some(before), Some(peak)) => println!(
            "peak resident memory above the loaded log, rendering every page: {:.1} MB (resident before {:.1} MB, peak {:.1} MB)",
            mb(peak.saturating_sub(before)),
            mb(before),
            mb(peak)
        ),
        _ => println!("peak memory: /proc/self/status unreadable; not measured"),
    }
    let before = status_bytes("VmRSS:");
    let reset = reset_peak();
    let start = Instant::now();
    let html = render_last(&all);
    let took = start.elapsed();
    if let (true, Some(before), Some(peak)) = (reset, before, status_bytes("VmHWM:")) {
        println!(
            "one `logs` on it (last page, {html} bytes of HTML): {:.2} s, peak resident above the loaded log {:.1} MB",
            took.as_secs_f64(),
            mb(peak.saturating_sub(before))
        );
    }
}
