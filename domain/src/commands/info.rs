//! `info`: what the bot is, what it talks to, how it is doing. No host names or addresses: they
//! are nobody's business in a chat room.

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_room_instance};
use crate::core::{Ctx, Request};
use crate::grammar::{CommandSpec, Parsed};
use crate::render::Reply;
use crate::render::duration::human;

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "info",
    aliases: &["version"],
    summary: "Show the bot's version, connections and counters",
    args: &[],
    flags: &[],
    subcommands: &[],
    examples: &["info"],
    hidden: false,
    permission: Some(Permission::Read),
};

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_room_instance, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, _: &Parsed) -> Result<(), CommandError> {
    let now = ctx.now();
    let chat = ctx.chat().connection_info();
    let instance = ctx.instance_for(&req.room, None).await?;
    let mut semaphore = match instance.semaphore.info().await {
        Ok(info) => vec![vec!["Version".to_owned(), info.version]],
        Err(e) => vec![vec!["Status".to_owned(), format!("⚠️ {}", crate::bot::shown(ctx.core(), &e))]],
    };
    if ctx.instances().is_multi() {
        let chosen = crate::core::room_instance(ctx.core(), &req.room).await.is_some();
        let how = if chosen { "chosen with `use`" } else { "the default" };
        semaphore.insert(0, vec!["Instance".to_owned(), format!("{} ({how})", instance.id)]);
        semaphore.push(vec!["Instances".to_owned(), ctx.instances().len().to_string()]);
    }
    let websocket = if crate::core::lock(&ctx.core().watch).push_open(instance.id) { "open" } else { "closed" };
    let stats = ctx.core().out.counters.snapshot();
    semaphore.push(vec![
        "Pushes".to_owned(),
        format!("websocket {websocket} · alerts received: {} (all instances)", stats.alerts),
    ]);
    // What the store said is for the operator's log (it may name files), not for the room.
    let tracked = ctx.store().tracked_tasks().await.map(|t| t.len().to_string()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "info: the tracked tasks could not be read");
        "⚠️ the bot's storage failed; the operator's log says why".to_owned()
    });
    // The same numbers /metrics shows.
    let meter = ctx.core().meter.snapshot();
    let started: u64 = meter.tasks_started.values().sum();
    let ended: u64 = meter.tasks_finished.values().sum();
    let succeeded: u64 = meter.tasks_finished.iter().filter(|((_, r), _)| r == "success").map(|(_, n)| n).sum();
    let runs = match (succeeded * 100).checked_div(ended) {
        Some(rate) => format!("{started} started · {ended} ended, {rate}% successful"),
        None => format!("{started} started"),
    };
    let handling = match crate::metrics::quantile(&meter.latency_buckets, meter.latency_count, 0.95) {
        Some(bound) => format!("95% within {}", seconds(bound)),
        None => "—".to_owned(),
    };
    let bot_rows = vec![
        vec!["Version".to_owned(), ctx.settings().version.clone()],
        vec!["Uptime".to_owned(), human(now - ctx.core().started_at)],
        vec!["Commands handled".to_owned(), stats.commands.to_string()],
        vec!["Command handling".to_owned(), handling],
        vec!["Runs since start".to_owned(), runs],
        vec!["Messages sent".to_owned(), stats.messages_sent.to_string()],
        vec!["Errors".to_owned(), stats.errors.to_string()],
        vec!["Undecryptable messages".to_owned(), stats.undecryptable.to_string()],
        vec!["Webhook deliveries".to_owned(), stats.hook_deliveries.to_string()],
        vec!["Tasks watched".to_owned(), tracked],
        vec!["Open questions".to_owned(), ctx.open_questions().to_string()],
    ];
    let mut chat_rows = vec![
        vec!["Network".to_owned(), chat.network],
        vec!["Server".to_owned(), chat.server],
        vec!["User".to_owned(), chat.user_id],
    ];
    if let Some(device) = chat.device_id {
        chat_rows.push(vec!["Device".to_owned(), device]);
    }
    chat_rows.push(vec!["Encryption".to_owned(), if chat.encryption { "on" } else { "off" }.to_owned()]);
    chat_rows.push(vec!["Connected".to_owned(), if chat.connected { "yes" } else { "no" }.to_owned()]);
    // Each instance's health as the bot sees it, without asking Semaphore (`instances` does).
    let health: Vec<Vec<String>> = ctx
        .instances()
        .iter()
        .map(|i| {
            let open = crate::core::lock(&ctx.core().watch).push_open(i.id);
            let watched = meter.watched.get(&i.id.to_string()).copied().unwrap_or(0);
            let started_here = meter.tasks_started.get(&i.id.to_string()).copied().unwrap_or(0);
            vec![
                i.id.to_string(),
                format!("websocket {}", if open { "open" } else { "closed" }),
                format!("{watched} watched"),
                format!("{started_here} started"),
            ]
        })
        .collect();
    let mut reply = Reply::notice()
        .bold("🤖 chatrixcd")
        .table(&["", ""], &bot_rows)
        .line()
        .bold("💬 Chat")
        .table(&["", ""], &chat_rows)
        .line()
        .bold("🛠️ Semaphore")
        .table(&["", ""], &semaphore);
    if ctx.instances().is_multi() {
        reply = reply.line().bold("Instances").table(&["", "", "", ""], &health);
    }
    ctx.reply(req, reply).await;
    Ok(())
}

fn seconds(bound: f64) -> String {
    if bound < 1.0 { format!("{} ms", (bound * 1000.0).round()) } else { format!("{bound} s") }
}

#[cfg(test)]
mod tests {
    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn info_shows_the_rooms_instance_and_the_counters() {
        let h = Harness::two_instances().await;
        h.say(&admin(), "!cd info").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("production (the default)"), "{said}");
        assert!(said.contains("Commands handled"), "{said}");
        assert!(said.contains("Runs since start        0 started"), "{said}");
        h.say(&admin(), "!cd use staging").await;
        h.chat.take();
        h.say(&admin(), "!cd info").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("staging (chosen with `use`)"), "{said}");
        assert!(said.contains("Instances") && said.contains("staging     websocket closed  0 watched  0 started"), "{said}");
        let one = Harness::single().await;
        one.say(&admin(), "!cd info").await;
        assert!(!one.chat.bodies().join("\n").contains("Instance"), "one instance: not mentioned");
    }
}
