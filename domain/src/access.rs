//! Who may do what. Deny by default: with no admin configured nobody can run anything, and the
//! reply tells the operator how to fix that (ChatrixCD let everybody in instead).

use chatrixcd_ports::{RoomId, UserId};

use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// May run any command.
    Admin,
    /// May run read-only commands.
    Viewer,
    /// Not in the room allow-list: stay silent, as the room is not ours to talk in.
    RoomNotAllowed,
    /// Known room, unknown user.
    Denied,
    /// Nobody is configured as admin: deny, and explain the configuration.
    NoAdminsConfigured,
}

impl Access {
    pub fn may_run(self, mutating: bool) -> bool {
        match self {
            Self::Admin => true,
            Self::Viewer => !mutating,
            Self::RoomNotAllowed | Self::Denied | Self::NoAdminsConfigured => false,
        }
    }
}

/// Matrix ids may arrive URL-encoded (`@user%40domain`), as ChatrixCD's users configured them.
fn same_user(a: &UserId, b: &UserId) -> bool {
    fn decode(s: &str) -> String {
        s.replace("%40", "@").replace("%3A", ":").replace("%3a", ":").to_lowercase()
    }
    a == b || decode(a.as_str()) == decode(b.as_str())
}

pub fn is_admin(settings: &Settings, user: &UserId) -> bool {
    settings.admins.iter().any(|a| same_user(a, user))
}

pub fn check(settings: &Settings, room: &RoomId, user: &UserId) -> Access {
    if !settings.allowed_rooms.is_empty() && !settings.allowed_rooms.contains(room) {
        return Access::RoomNotAllowed;
    }
    if settings.admins.is_empty() {
        return Access::NoAdminsConfigured;
    }
    if is_admin(settings, user) {
        Access::Admin
    } else if settings.viewers.iter().any(|v| same_user(v, user)) {
        Access::Viewer
    } else {
        Access::Denied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }
    fn room(s: &str) -> RoomId {
        RoomId::parse(s).unwrap()
    }

    #[test]
    fn access_table() {
        let mut s = Settings::new(user("@bot:x"));
        assert_eq!(check(&s, &room("!r:x"), &user("@a:x")), Access::NoAdminsConfigured);
        s.admins = vec![user("@a:x")];
        s.viewers = vec![user("@v:x")];
        assert_eq!(check(&s, &room("!r:x"), &user("@a:x")), Access::Admin);
        assert_eq!(check(&s, &room("!r:x"), &user("@v:x")), Access::Viewer);
        assert_eq!(check(&s, &room("!r:x"), &user("@z:x")), Access::Denied);
        s.allowed_rooms = vec![room("!ok:x")];
        assert_eq!(check(&s, &room("!r:x"), &user("@a:x")), Access::RoomNotAllowed);
        assert_eq!(check(&s, &room("!ok:x"), &user("@a:x")), Access::Admin);
        assert!(Access::Viewer.may_run(false));
        assert!(!Access::Viewer.may_run(true));
    }

    #[test]
    fn url_encoded_admin_ids_match() {
        let mut s = Settings::new(user("@bot:x"));
        s.admins = vec![user("@alice%40corp:x")];
        assert!(is_admin(&s, &user("@alice@corp:x")));
    }
}
