//! The confirmation state machine for risky actions.
//!
//! Fixes ChatrixCD's confirmation bugs by construction: each request carries its own deadline, so
//! an older timer can never expire a newer request; only recognised yes/no answers resolve a
//! request, so unrelated chatter never cancels one; only the requester (or, for two-person
//! approval, a different admin) can answer.

use chatrixcd_ports::{EventId, RoomId, UserId};
use chrono::{DateTime, Utc};

/// Who may answer a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approver {
    /// The requester confirms their own action.
    Requester,
    /// Another admin must approve; the requester may still cancel.
    OtherAdmin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending<A> {
    pub id: u64,
    pub room: RoomId,
    pub requester: UserId,
    pub approver: Approver,
    pub action: A,
    /// The bot's question, whose reactions answer it.
    pub event: Option<EventId>,
    pub deadline: DateTime<Utc>,
}

/// The result of offering an event to the pending confirmations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution<A> {
    /// The event was not an answer to anything: handle it normally.
    NotAnAnswer,
    /// The event answered a confirmation.
    Answered { pending: Pending<A>, answer: Answer, by: UserId },
    /// Somebody who may not answer tried to; the request stays open.
    NotAllowed { pending_requester: UserId, approver: Approver },
}

/// Words accepted as a text answer (ChatrixCD's lists, so habits keep working).
pub fn classify_text(text: &str) -> Option<Answer> {
    let t = text.trim().trim_end_matches(['!', '.']).to_lowercase();
    match t.as_str() {
        "y" | "yes" | "go" | "start" | "ok" | "okay" | "confirm" | "approve" | "👍" | "✓" | "✅" => {
            Some(Answer::Yes)
        }
        "n" | "no" | "cancel" | "stop" | "end" | "nope" | "abort" | "reject" | "👎" | "❌" | "✖" => {
            Some(Answer::No)
        }
        _ => None,
    }
}

/// Reaction keys accepted as an answer. Variation selectors are ignored, text keys case-insensitively.
pub fn classify_reaction(key: &str) -> Option<Answer> {
    let cleaned: String = key.chars().filter(|c| !('\u{FE00}'..='\u{FE0F}').contains(c)).collect();
    let cleaned = cleaned.trim().to_lowercase();
    match cleaned.as_str() {
        "👍" | "✅" | "✓" | "☑" | "✔" | "🆗" | "yes" | "y" => Some(Answer::Yes),
        "👎" | "❌" | "✖" | "⛔" | "🚫" | "no" | "n" => Some(Answer::No),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct Confirmations<A> {
    next_id: u64,
    pending: Vec<Pending<A>>,
}

impl<A> Default for Confirmations<A> {
    fn default() -> Self {
        Self { next_id: 1, pending: Vec::new() }
    }
}

impl<A: Clone> Confirmations<A> {
    /// Opens a request. A requester has at most one open request per room: a new one replaces the
    /// old, which is returned so the caller can say so.
    pub fn open(
        &mut self,
        room: RoomId,
        requester: UserId,
        approver: Approver,
        action: A,
        deadline: DateTime<Utc>,
    ) -> (u64, Option<Pending<A>>) {
        let replaced = self
            .pending
            .iter()
            .position(|p| p.room == room && p.requester == requester)
            .map(|i| self.pending.remove(i));
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push(Pending { id, room, requester, approver, action, event: None, deadline });
        (id, replaced)
    }

    /// Records the question's event id so reactions to it can be matched.
    pub fn attach_event(&mut self, id: u64, event: EventId) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            p.event = Some(event);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    fn may_answer(p: &Pending<A>, sender: &UserId, answer: Answer, may_approve: impl Fn(&A) -> bool) -> bool {
        match p.approver {
            Approver::Requester => &p.requester == sender,
            // The requester may withdraw their own request, never approve it.
            Approver::OtherAdmin => {
                (&p.requester == sender && answer == Answer::No) || (&p.requester != sender && may_approve(&p.action))
            }
        }
    }

    fn take(&mut self, id: u64) -> Option<Pending<A>> {
        let i = self.pending.iter().position(|p| p.id == id)?;
        Some(self.pending.remove(i))
    }

    /// Offers a text message sent at `now`. Only a yes/no word counts; anything else is not an
    /// answer. `may_approve` says whether the sender may be the second person of an action. A
    /// request past its deadline takes no answer, even before `expire` has removed it.
    pub fn answer_text(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        text: &str,
        now: DateTime<Utc>,
        may_approve: impl Fn(&A) -> bool,
    ) -> Resolution<A> {
        let Some(answer) = classify_text(text) else { return Resolution::NotAnAnswer };
        let open = |p: &&Pending<A>| &p.room == room && p.deadline > now;
        // The sender's own request in this room comes first.
        if let Some(p) = self.pending.iter().filter(open).find(|p| &p.requester == sender) {
            if Self::may_answer(p, sender, answer, &may_approve) {
                let id = p.id;
                return self.resolve(id, answer, sender);
            }
            if p.approver == Approver::OtherAdmin {
                return Resolution::NotAllowed { pending_requester: p.requester.clone(), approver: p.approver };
            }
        }
        // Otherwise an approver's "yes" is unambiguous only if exactly one request in the room awaits one.
        let mut waiting =
            self.pending.iter().filter(open).filter(|p| p.approver == Approver::OtherAdmin && &p.requester != sender);
        match (waiting.next(), waiting.next()) {
            (Some(p), None) if may_approve(&p.action) => {
                let id = p.id;
                self.resolve(id, answer, sender)
            }
            _ => Resolution::NotAnAnswer,
        }
    }

    /// Offers a reaction to `relates_to`.
    pub fn answer_reaction(
        &mut self,
        room: &RoomId,
        sender: &UserId,
        relates_to: &EventId,
        key: &str,
        now: DateTime<Utc>,
        may_approve: impl Fn(&A) -> bool,
    ) -> Resolution<A> {
        let Some(p) =
            self.pending.iter().find(|p| &p.room == room && p.event.as_ref() == Some(relates_to) && p.deadline > now)
        else {
            return Resolution::NotAnAnswer;
        };
        let Some(answer) = classify_reaction(key) else { return Resolution::NotAnAnswer };
        if !Self::may_answer(p, sender, answer, may_approve) {
            return Resolution::NotAllowed { pending_requester: p.requester.clone(), approver: p.approver };
        }
        let id = p.id;
        self.resolve(id, answer, sender)
    }

    fn resolve(&mut self, id: u64, answer: Answer, by: &UserId) -> Resolution<A> {
        match self.take(id) {
            Some(pending) => Resolution::Answered { pending, answer, by: by.clone() },
            None => Resolution::NotAnAnswer,
        }
    }

    /// Removes and returns every request whose deadline has passed.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<Pending<A>> {
        let (expired, open): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| p.deadline <= now);
        self.pending = open;
        expired
    }

    /// Removes every request (nobody is left to answer, e.g. at shutdown).
    pub fn drain(&mut self) -> Vec<Pending<A>> {
        std::mem::take(&mut self.pending)
    }

    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.pending.iter().map(|p| p.deadline).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }
    fn room() -> RoomId {
        RoomId::parse("!r:x").unwrap()
    }
    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000, 0).unwrap()
    }

    #[test]
    fn text_answers_from_the_requester_resolve_and_chatter_does_not() {
        let mut c = Confirmations::default();
        let alice = user("@alice:x");
        c.open(room(), alice.clone(), Approver::Requester, "run", t0() + Duration::seconds(300));
        assert_eq!(c.answer_text(&room(), &alice, "hmm, let me think", t0(), |_: &_| true), Resolution::NotAnAnswer);
        assert_eq!(c.answer_text(&room(), &user("@bob:x"), "yes", t0(), |_: &_| true), Resolution::NotAnAnswer);
        assert_eq!(c.len(), 1);
        match c.answer_text(&room(), &alice, "Yes!", t0(), |_: &_| true) {
            Resolution::Answered { answer: Answer::Yes, pending, .. } => assert_eq!(pending.action, "run"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(c.is_empty());
    }

    #[test]
    fn reactions_match_the_question_and_the_requester() {
        let mut c = Confirmations::default();
        let alice = user("@alice:x");
        let (id, _) = c.open(room(), alice.clone(), Approver::Requester, 1, t0() + Duration::seconds(60));
        let q = EventId("$q".into());
        c.attach_event(id, q.clone());
        assert_eq!(
            c.answer_reaction(&room(), &alice, &EventId("$other".into()), "👍", t0(), |_: &_| true),
            Resolution::NotAnAnswer
        );
        assert!(matches!(
            c.answer_reaction(&room(), &user("@bob:x"), &q, "👍", t0(), |_: &_| true),
            Resolution::NotAllowed { .. }
        ));
        assert_eq!(c.answer_reaction(&room(), &alice, &q, "🎉", t0(), |_: &_| true), Resolution::NotAnAnswer);
        assert!(matches!(
            c.answer_reaction(&room(), &alice, &q, "👎\u{FE0F}", t0(), |_: &_| true),
            Resolution::Answered { answer: Answer::No, .. }
        ));
    }

    #[test]
    fn a_request_past_its_deadline_takes_no_answer_before_it_is_expired() {
        let mut c = Confirmations::default();
        let alice = user("@alice:x");
        let (id, _) = c.open(room(), alice.clone(), Approver::Requester, "run", t0() + Duration::seconds(60));
        let q = EventId("$q".into());
        c.attach_event(id, q.clone());
        let late = t0() + Duration::seconds(60);
        assert_eq!(c.answer_text(&room(), &alice, "yes", late, |_: &_| true), Resolution::NotAnAnswer);
        assert_eq!(c.answer_reaction(&room(), &alice, &q, "👍", late, |_: &_| true), Resolution::NotAnAnswer);
        assert_eq!(c.expire(late).len(), 1, "still there for `expire` to announce");
    }

    #[test]
    fn an_older_deadline_never_expires_a_newer_request() {
        let mut c = Confirmations::default();
        let alice = user("@alice:x");
        c.open(room(), alice.clone(), Approver::Requester, "old", t0() + Duration::seconds(30));
        let (_, replaced) = c.open(room(), alice.clone(), Approver::Requester, "new", t0() + Duration::seconds(300));
        assert_eq!(replaced.map(|p| p.action), Some("old"));
        assert!(c.expire(t0() + Duration::seconds(31)).is_empty());
        assert_eq!(c.next_deadline(), Some(t0() + Duration::seconds(300)));
        let expired = c.expire(t0() + Duration::seconds(300));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].action, "new");
    }

    #[test]
    fn two_person_approval_needs_another_admin() {
        let mut c = Confirmations::default();
        let alice = user("@alice:x");
        let bob = user("@bob:x");
        c.open(room(), alice.clone(), Approver::OtherAdmin, "deploy", t0() + Duration::seconds(60));
        assert!(matches!(c.answer_text(&room(), &alice, "yes", t0(), |_: &_| true), Resolution::NotAllowed { .. }));
        assert_eq!(c.answer_text(&room(), &user("@mallory:x"), "yes", t0(), |_: &_| false), Resolution::NotAnAnswer);
        match c.answer_text(&room(), &bob, "yes", t0(), |_: &_| true) {
            Resolution::Answered { by, answer: Answer::Yes, .. } => assert_eq!(by, bob),
            other => panic!("unexpected {other:?}"),
        }
        // The requester may withdraw.
        c.open(room(), alice.clone(), Approver::OtherAdmin, "deploy", t0() + Duration::seconds(60));
        assert!(matches!(
            c.answer_text(&room(), &alice, "no", t0(), |_: &_| true),
            Resolution::Answered { answer: Answer::No, .. }
        ));
    }

    proptest! {
        /// Whatever anybody else says or reacts, only the requester's answer resolves a request.
        #[test]
        fn only_the_requester_can_answer(
            others in prop::collection::vec(("[a-z]{1,8}", prop::sample::select(vec!["yes", "y", "no", "ok", "👍", "👎", "go", "cancel", "hi"]), any::<bool>()), 0..20),
            final_word in prop::sample::select(vec!["yes", "no", "y", "n", "👍", "👎"]),
        ) {
            let mut c = Confirmations::default();
            let alice = user("@alice:x");
            let (id, _) = c.open(room(), alice.clone(), Approver::Requester, (), t0() + Duration::seconds(60));
            let q = EventId("$q".into());
            c.attach_event(id, q.clone());
            for (name, word, react) in &others {
                let sender = user(&format!("@{name}z:x"));
                let r = if *react {
                    c.answer_reaction(&room(), &sender, &q, word, t0(), |_: &_| true)
                } else {
                    c.answer_text(&room(), &sender, word, t0(), |_: &_| true)
                };
                let answered = matches!(r, Resolution::Answered { .. });
                prop_assert!(!answered);
            }
            prop_assert_eq!(c.len(), 1);
            let answered = matches!(c.answer_text(&room(), &alice, final_word, t0(), |_: &_| false), Resolution::Answered { .. });
            prop_assert!(answered);
        }
    }
}
