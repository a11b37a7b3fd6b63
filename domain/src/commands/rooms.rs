//! `rooms [join|part]`: the rooms the bot is in.

use crate::permissions::Permission;
use crate::commands::{Command, CommandError, needs_nothing};
use crate::core::{Ctx, Request};
use crate::grammar::{ArgSpec, CommandSpec, Parsed, ValueKind};
use crate::render::Reply;

static ROOM_ARG: [ArgSpec; 1] =
    [ArgSpec { name: "room", kind: ValueKind::Word, required: true, help: "room id (!…) or alias (#…)" }];

pub(crate) static SPEC: CommandSpec = CommandSpec {
    name: "rooms",
    aliases: &["room"],
    summary: "List the rooms I am in, or join/leave one",
    args: &[],
    flags: &[],
    subcommands: &[
        CommandSpec { name: "list", aliases: &["ls"], summary: "List the rooms I am in", ..CommandSpec::BASE },
        CommandSpec {
            name: "join",
            summary: "Join a room",
            args: &ROOM_ARG,
            examples: &["rooms join #ops:example.org"],
            permission: Some(Permission::Rooms),
            ..CommandSpec::BASE
        },
        CommandSpec {
            name: "part",
            aliases: &["leave"],
            summary: "Leave a room",
            args: &ROOM_ARG,
            examples: &["rooms part !abc:example.org"],
            permission: Some(Permission::Rooms),
            ..CommandSpec::BASE
        },
    ],
    examples: &["rooms", "rooms join #ops:example.org"],
    hidden: false,
    permission: Some(Permission::Read),
};

#[derive(Debug, Clone)]
pub(crate) enum Args {
    List,
    Join(String),
    Part(String),
}

impl Args {
    pub(crate) fn from_parsed(p: &Parsed) -> Self {
        let room = p.arg("room").unwrap_or_default().to_owned();
        match p.sub() {
            Some("join") => Self::Join(room),
            Some("part") => Self::Part(room),
            _ => Self::List,
        }
    }
}

pub(crate) static COMMAND: Command =
    Command { spec: &SPEC, needs: needs_nothing, run: |ctx, req, p| Box::pin(execute(ctx, req, p)) };

async fn execute(ctx: Ctx<'_>, req: &Request, p: &Parsed) -> Result<(), CommandError> {
    let args = Args::from_parsed(p);
    let reply = match args {
        Args::List => {
            let rooms = ctx.chat().joined_rooms().await?;
            if rooms.is_empty() {
                Reply::notice().push("I am not in any room.")
            } else {
                let allowed = &ctx.settings().allowed_rooms;
                let rows: Vec<Vec<String>> = rooms
                    .iter()
                    .map(|r| {
                        let answers = r.can_send && (allowed.is_empty() || allowed.contains(&r.id));
                        vec![
                            r.name.clone().unwrap_or_else(|| "(no name)".into()),
                            r.id.to_string(),
                            if r.encrypted { "🔒" } else { "" }.to_owned(),
                            if answers { "✅ yes" } else { "❌ no" }.to_owned(),
                        ]
                    })
                    .collect();
                Reply::notice().bold("Rooms").table(&["Name", "ID", "Encrypted", "Commands answered"], &rows)
            }
        }
        Args::Join(room) => {
            let joined = ctx.chat().join(&room).await?;
            ctx.audit(req, "room.join", joined.to_string()).await;
            Reply::notice().push("✅ Joined ").code(joined.as_str())
        }
        Args::Part(room) => {
            let id = chatrixcd_ports::RoomId::parse(room.as_str())
                .map_err(|e| CommandError::Usage(format!("{e}. Leave a room by its id (!…), as `rooms` lists it.")))?;
            ctx.chat().leave(&id).await?;
            ctx.audit(req, "room.part", id.to_string()).await;
            Reply::notice().push("👋 Left ").code(id.as_str())
        }
    };
    ctx.reply(req, reply).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chatrixcd_ports::{Store as _, UserId};

    use crate::testing::{Harness, admin};

    #[tokio::test]
    async fn rooms_lists_the_joined_rooms_and_whether_commands_are_answered() {
        let h = Harness::single().await;
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd rooms").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.starts_with("Rooms\nName  ID         Encrypted  Commands answered"), "{said}");
        let row = said.lines().nth(2).unwrap_or_default();
        assert!(row.starts_with("Ops   !ops:test  🔒") && row.ends_with("✅ yes"), "{said}");
    }

    #[tokio::test]
    async fn join_and_part_are_audited_and_part_wants_a_room_id() {
        let h = Harness::single().await;
        h.say(&admin(), "!cd rooms join !new:test").await;
        assert_eq!(h.chat.bodies(), ["✅ Joined `!new:test`"]);
        h.say(&admin(), "!cd rooms part #new:test").await;
        let said = h.chat.bodies().join("\n");
        assert!(said.contains("Leave a room by its id (!…), as `rooms` lists it."), "{said}");
        assert!(said.contains("Usage: `!cd rooms part <room>`"), "{said}");
        h.say(&admin(), "!cd rooms leave !new:test").await;
        assert_eq!(h.chat.bodies(), ["👋 Left `!new:test`"]);
        h.say(&UserId::parse("@victor:test").unwrap(), "!cd rooms join !other:test").await;
        assert!(h.chat.bodies().join("\n").contains("needs the `rooms` permission on the bot"));
        let audit = h.store.audit(chatrixcd_ports::Page { limit: 10, before: None }).await.unwrap();
        let done: Vec<(&str, &str)> = audit.iter().rev().map(|a| (a.action.as_str(), a.detail.as_str())).collect();
        assert_eq!(done, [("room.join", "!new:test"), ("room.part", "!new:test"), ("denied", "rooms on the bot")]);
    }
}
