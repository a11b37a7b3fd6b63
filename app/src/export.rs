//! `chatrixcd export history|audit --csv|--json --data-dir DIR`: the bot's records for spreadsheets and
//! audits, as CSV on stdout.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use chatrixcd_ports::store::{Page, Store as _};
use chatrixcd_store_redb::RedbStore;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ExportArgs {
    /// What to export.
    #[arg(value_parser = ["history", "audit"])]
    what: String,
    /// Write CSV (RFC 4180).
    #[arg(long, required_unless_present = "json", conflicts_with = "json")]
    csv: bool,
    /// Write JSON Lines (one record per line).
    #[arg(long)]
    json: bool,
    /// The data directory of the bot (holds chatrixcd.redb).
    #[arg(long)]
    data_dir: PathBuf,
}

use chatrixcd_domain::render::csv::{audit_header, audit_row, run_header, run_row};

pub(crate) async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let _ = args.csv;
    if !args.data_dir.join("chatrixcd.redb").exists() {
        anyhow::bail!(
            "{} holds no chatrixcd database (chatrixcd.redb); give the --data-dir the bot uses",
            args.data_dir.display()
        );
    }
    let store = RedbStore::open(&args.data_dir)?;
    let mut out = std::io::stdout().lock();
    // Oldest first reads naturally in a spreadsheet; the store pages newest first.
    let page = Page { limit: usize::MAX, before: None };
    match args.what.as_str() {
        "history" if args.json => {
            // One JSON object per line (JSON Lines): streams, and any tool reads it line by line.
            for r in store.runs(page).await.context("reading the run history")?.into_iter().rev() {
                serde_json::to_writer(&mut out, &r)?;
                out.write_all(b"\n")?;
            }
        }
        "history" => {
            out.write_all(run_header().as_bytes())?;
            for r in store.runs(page).await.context("reading the run history")?.into_iter().rev() {
                out.write_all(run_row(&r).as_bytes())?;
            }
        }
        "audit" if args.json => {
            for e in store.audit(page).await.context("reading the audit log")?.into_iter().rev() {
                serde_json::to_writer(&mut out, &e)?;
                out.write_all(b"\n")?;
            }
        }
        _ => {
            out.write_all(audit_header().as_bytes())?;
            for e in store.audit(page).await.context("reading the audit log")?.into_iter().rev() {
                out.write_all(audit_row(&e).as_bytes())?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
