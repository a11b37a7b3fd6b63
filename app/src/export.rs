//! `chatrixcd export history|audit --csv --data-dir DIR`: the bot's records for spreadsheets and
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
    /// Write CSV (the only format for now; the flag keeps room for others).
    #[arg(long, required = true)]
    csv: bool,
    /// The data directory of the bot (holds chatrixcd.redb).
    #[arg(long)]
    data_dir: PathBuf,
}

use chatrixcd_domain::render::csv::{audit_header, audit_row, row};

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
        "history" => {
            out.write_all(
                row(&[
                    "id",
                    "started_at",
                    "ended_at",
                    "result",
                    "room",
                    "requester",
                    "instance",
                    "project",
                    "template",
                    "task",
                    "parameters",
                ]
                .map(str::to_owned))
                .as_bytes(),
            )?;
            for r in store.runs(page).await.context("reading the run history")?.into_iter().rev() {
                let parameters: Vec<String> = r.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                out.write_all(
                    row(&[
                        r.id.to_string(),
                        r.started_at.to_rfc3339(),
                        r.ended_at.map(|e| e.to_rfc3339()).unwrap_or_default(),
                        r.result.map(|s| s.to_string()).unwrap_or_default(),
                        r.room.to_string(),
                        r.requester.to_string(),
                        r.instance.to_string(),
                        format!("{} ({})", r.project_name, r.project),
                        format!("{} ({})", r.template_name, r.template),
                        r.task.to_string(),
                        parameters.join("; "),
                    ])
                    .as_bytes(),
                )?;
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
