//! `info`: what the bot is, what it talks to, how it is doing. No host names or addresses: they
//! are nobody's business in a chat room.

use crate::bot::{Bot, Request};
use crate::commands::CommandError;
use crate::grammar::CommandSpec;
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
    mutating: false,
};

pub(crate) async fn execute(bot: &mut Bot, req: &Request) -> Result<(), CommandError> {
    let now = bot.deps.clock.now();
    let chat = bot.deps.chat.connection_info();
    let semaphore = match bot.deps.semaphore.info().await {
        Ok(info) => vec![vec!["Version".to_owned(), info.version]],
        Err(e) => vec![vec!["Status".to_owned(), format!("⚠️ {e}")]],
    };
    let tracked =
        bot.deps.store.tracked_tasks().await.map(|t| t.len().to_string()).unwrap_or_else(|e| format!("⚠️ {e}"));
    let stats = bot.stats;
    let bot_rows = vec![
        vec!["Version".to_owned(), bot.settings.version.clone()],
        vec!["Uptime".to_owned(), human(now - bot.started_at)],
        vec!["Commands handled".to_owned(), stats.commands.to_string()],
        vec!["Messages sent".to_owned(), stats.messages_sent.to_string()],
        vec!["Errors".to_owned(), stats.errors.to_string()],
        vec!["Undecryptable messages".to_owned(), stats.undecryptable.to_string()],
        vec!["Tasks watched".to_owned(), tracked],
        vec!["Open questions".to_owned(), bot.confirmations.len().to_string()],
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
    let reply = Reply::notice()
        .bold("🤖 chatrixcd")
        .table(&["", ""], &bot_rows)
        .line()
        .bold("💬 Chat")
        .table(&["", ""], &chat_rows)
        .line()
        .bold("🛠️ Semaphore")
        .table(&["", ""], &semaphore);
    bot.reply(req, reply).await;
    Ok(())
}
