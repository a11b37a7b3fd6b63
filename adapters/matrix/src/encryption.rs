//! The encryption port on Matrix: device lists, the bot's own set-up, and interactive emoji (SAS)
//! verification in both directions, to-device and in-room.
//!
//! Each verification the bot learns of gets a task that follows matrix-sdk's state streams and
//! turns every step into a `ChatEvent::Verification`, so whoever drives it (the bot in a room, or
//! `chatrixcd verify` on a terminal) sees the emojis the moment they exist. Accepting a request
//! or the other side's emoji exchange commits to nothing; only `confirm` does, and only a person
//! calls it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chatrixcd_ports::chat::ChatEvent;
use chatrixcd_ports::encryption::{
    DeviceSummary, EncryptionError, EncryptionPort, EncryptionStatus, SasEmoji, Verification, VerificationStage,
};
use chatrixcd_ports::{RoomId, UserId};
use futures::StreamExt as _;
use matrix_sdk::Client;
use matrix_sdk::encryption::verification::{
    SasState, SasVerification, Verification as SdkVerification, VerificationRequest, VerificationRequestState,
};
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::ruma::events::key::verification::request::ToDeviceKeyVerificationRequestEvent;
use matrix_sdk::ruma::events::key::verification::start::ToDeviceKeyVerificationStartEvent;
use matrix_sdk::ruma::events::room::message::{MessageType, OriginalSyncRoomMessageEvent};
use tokio::sync::mpsc;

/// The bot's encryption layer on Matrix. Clones share it.
#[derive(Clone)]
pub struct MatrixEncryption {
    client: Client,
    events: mpsc::Sender<ChatEvent>,
    /// Every verification seen since start, by flow id, in the order they arrived (flow ids are
    /// random, so the sequence number keeps `pending` oldest first).
    flows: Arc<Mutex<BTreeMap<String, (u64, OwnedUserId)>>>,
}

impl std::fmt::Debug for MatrixEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixEncryption").finish_non_exhaustive()
    }
}

/// Whether a verification request sent at `sent` is young enough to answer (matrix-sdk's own
/// limit: ten minutes).
fn is_recent(sent: matrix_sdk::ruma::MilliSecondsSinceUnixEpoch) -> bool {
    let now = matrix_sdk::ruma::MilliSecondsSinceUnixEpoch::now();
    u64::from(now.get()).saturating_sub(u64::from(sent.get())) <= 10 * 60 * 1000
}

fn failed(e: impl std::fmt::Display) -> EncryptionError {
    EncryptionError::Failed(e.to_string())
}

fn port_user(user: &matrix_sdk::ruma::UserId) -> Option<UserId> {
    UserId::parse(user.as_str()).ok()
}

fn sdk_user(user: &UserId) -> Result<OwnedUserId, EncryptionError> {
    OwnedUserId::try_from(user.as_str()).map_err(failed)
}

fn emojis(sas: &SasVerification) -> Vec<SasEmoji> {
    sas.emoji()
        .map(|list| {
            list.iter().map(|e| SasEmoji { symbol: e.symbol.to_owned(), name: e.description.to_owned() }).collect()
        })
        .unwrap_or_default()
}

fn sas_stage(sas: &SasVerification, state: &SasState) -> VerificationStage {
    match state {
        SasState::Created { .. } | SasState::Started { .. } | SasState::Accepted { .. } => VerificationStage::Ready,
        SasState::KeysExchanged { .. } => VerificationStage::CompareEmojis(emojis(sas)),
        SasState::Confirmed => VerificationStage::Confirmed,
        SasState::Done { .. } => VerificationStage::Done,
        SasState::Cancelled(info) => VerificationStage::Cancelled(info.reason().to_owned()),
    }
}

fn request_stage(state: &VerificationRequestState) -> VerificationStage {
    match state {
        VerificationRequestState::Created { .. } | VerificationRequestState::Requested { .. } => {
            VerificationStage::Requested
        }
        VerificationRequestState::Ready { .. } => VerificationStage::Ready,
        VerificationRequestState::Transitioned { verification, .. } => match verification.clone().sas() {
            Some(sas) => sas_stage(&sas, &sas.state()),
            None => VerificationStage::Cancelled("only emoji verification is supported".into()),
        },
        VerificationRequestState::Done => VerificationStage::Done,
        VerificationRequestState::Cancelled(info) => VerificationStage::Cancelled(info.reason().to_owned()),
    }
}

fn request_device(state: &VerificationRequestState) -> Option<String> {
    match state {
        VerificationRequestState::Requested { other_device_data, .. }
        | VerificationRequestState::Ready { other_device_data, .. } => Some(other_device_data.device_id().to_string()),
        VerificationRequestState::Transitioned { verification } => {
            verification.clone().sas().map(|sas| sas.other_device().device_id().to_string())
        }
        _ => None,
    }
}

impl MatrixEncryption {
    pub(crate) fn new(client: Client, events: mpsc::Sender<ChatEvent>) -> Self {
        Self { client, events, flows: Arc::default() }
    }

    /// Listens for verification requests from others, to-device and in-room.
    pub(crate) fn add_handlers(&self) {
        let this = self.clone();
        self.client.add_event_handler(move |ev: ToDeviceKeyVerificationRequestEvent, client: Client| {
            let this = this.clone();
            async move {
                match client.encryption().get_verification_request(&ev.sender, &ev.content.transaction_id).await {
                    Some(request) => this.follow_request(request),
                    // matrix-sdk ignores requests older than ten minutes; so does asking back.
                    None if is_recent(ev.content.timestamp) => {
                        // Off the sync loop: it looks devices up and sends to one.
                        tokio::spawn(async move {
                            this.ask_back(&ev.sender, &ev.content.from_device, &ev.content.transaction_id).await;
                        });
                    }
                    None => {}
                }
            }
        });
        let this = self.clone();
        self.client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, client: Client| {
            let this = this.clone();
            async move {
                if !matches!(ev.content.msgtype, MessageType::VerificationRequest(_))
                    || Some(ev.sender.as_ref()) == client.user_id()
                {
                    return;
                }
                if let Some(request) = client.encryption().get_verification_request(&ev.sender, &ev.event_id).await {
                    this.follow_request(request);
                }
            }
        });
        // Older clients start an emoji exchange without a request first.
        let this = self.clone();
        self.client.add_event_handler(move |ev: ToDeviceKeyVerificationStartEvent, client: Client| {
            let this = this.clone();
            async move {
                if client.encryption().get_verification_request(&ev.sender, &ev.content.transaction_id).await.is_some()
                {
                    return; // part of a request already followed
                }
                if let Some(SdkVerification::SasV1(sas)) =
                    client.encryption().get_verification(&ev.sender, ev.content.transaction_id.as_str()).await
                {
                    let flow = ev.content.transaction_id.to_string();
                    this.remember(&flow, sas.other_user_id());
                    this.follow_sas(sas, flow);
                }
            }
        });
    }

    /// Answers a request matrix-sdk dropped because it came from a device the bot had not heard
    /// of yet (a phone that logged in and asked at once, before the bot's next key query): the
    /// bot looks the device up now and asks it to verify in turn, so the person sees a request
    /// from the bot on that device instead of waiting for an answer that never comes.
    async fn ask_back(
        &self,
        user: &matrix_sdk::ruma::UserId,
        device: &matrix_sdk::ruma::DeviceId,
        their_flow: &matrix_sdk::ruma::TransactionId,
    ) {
        let encryption = self.client.encryption();
        if matches!(encryption.get_device(user, device).await, Ok(Some(_))) {
            // A known device: matrix-sdk dropped the request for another reason (too old, ours).
            return;
        }
        // Only people the bot shares a room with: anyone else could make it send requests to
        // any device they like.
        if !self.shares_a_room_with(user).await {
            tracing::info!(%user, %device, "ignoring a verification request from someone who shares no room with the bot");
            return;
        }
        if let Err(e) = encryption.request_user_identity(user).await {
            tracing::warn!(%user, %device, error = %e, "cannot look up the devices of someone asking to verify");
            return;
        }
        let Ok(Some(found)) = encryption.get_device(user, device).await else {
            tracing::warn!(%user, %device, "a verification request came from a device the homeserver does not list");
            return;
        };
        // Their own request must end first: a device with two requests open with the same
        // person cancels both.
        if let Err(e) = self.cancel_unknown_flow(user, device, their_flow).await {
            tracing::warn!(%user, %device, error = %e, "cannot end the request the bot could not answer");
            return;
        }
        match found.request_verification().await {
            Ok(request) => {
                tracing::info!(%user, %device, flow = %request.flow_id(), "asked back a device the bot had not heard of");
                self.follow_request(request);
            }
            Err(e) => tracing::warn!(%user, %device, error = %e, "cannot ask a new device to verify"),
        }
    }

    /// Cancels, on `device`, a request matrix-sdk never recorded (so it has no object to
    /// cancel it with), saying why.
    async fn cancel_unknown_flow(
        &self,
        user: &matrix_sdk::ruma::UserId,
        device: &matrix_sdk::ruma::DeviceId,
        flow: &matrix_sdk::ruma::TransactionId,
    ) -> Result<(), matrix_sdk::Error> {
        use matrix_sdk::ruma::api::client::to_device::send_event_to_device::v3::Request;
        use matrix_sdk::ruma::events::ToDeviceEventType;
        use matrix_sdk::ruma::events::key::verification::cancel::{
            CancelCode, ToDeviceKeyVerificationCancelEventContent,
        };
        use matrix_sdk::ruma::serde::Raw;
        use matrix_sdk::ruma::to_device::DeviceIdOrAllDevices;
        let content = ToDeviceKeyVerificationCancelEventContent::new(
            flow.to_owned(),
            "The bot did not know this device yet; it asks this device to verify instead.".to_owned(),
            CancelCode::User,
        );
        let mut for_device = BTreeMap::new();
        for_device.insert(DeviceIdOrAllDevices::DeviceId(device.to_owned()), Raw::new(&content)?.cast());
        let mut messages = BTreeMap::new();
        messages.insert(user.to_owned(), for_device);
        let request = Request::new_raw(
            ToDeviceEventType::KeyVerificationCancel,
            matrix_sdk::ruma::TransactionId::new(),
            messages,
        );
        self.client.send(request).await?;
        Ok(())
    }

    async fn shares_a_room_with(&self, user: &matrix_sdk::ruma::UserId) -> bool {
        for room in self.client.joined_rooms() {
            // The first sync loads members lazily: ask the homeserver when the store has not
            // heard of this one.
            if let Ok(Some(member)) = room.get_member(user).await
                && *member.membership() == matrix_sdk::ruma::events::room::member::MembershipState::Join
            {
                return true;
            }
        }
        false
    }

    /// Records a flow; false if it was already known (its follower runs already).
    fn remember(&self, flow: &str, user: &matrix_sdk::ruma::UserId) -> bool {
        let mut flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        if flows.contains_key(flow) {
            return false;
        }
        let seq = flows.len() as u64;
        flows.insert(flow.to_owned(), (seq, user.to_owned()));
        true
    }

    fn user_of(&self, flow: &str) -> Result<OwnedUserId, EncryptionError> {
        let flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
        flows.get(flow).map(|(_, user)| user.clone()).ok_or_else(|| EncryptionError::UnknownVerification(flow.into()))
    }

    fn describe_request(request: &VerificationRequest) -> Option<Verification> {
        let state = request.state();
        Some(Verification {
            id: request.flow_id().to_owned(),
            user: port_user(request.other_user_id())?,
            device: request_device(&state),
            we_started: request.we_started(),
            room: request.room_id().and_then(|r| RoomId::parse(r.as_str()).ok()),
            stage: request_stage(&state),
        })
    }

    fn describe_sas(sas: &SasVerification, flow: &str) -> Option<Verification> {
        Some(Verification {
            id: flow.to_owned(),
            user: port_user(sas.other_user_id())?,
            device: Some(sas.other_device().device_id().to_string()),
            we_started: sas.we_started(),
            room: sas.room_id().and_then(|r| RoomId::parse(r.as_str()).ok()),
            stage: sas_stage(sas, &sas.state()),
        })
    }

    async fn report(&self, verification: Option<Verification>) {
        if let Some(v) = verification {
            tracing::info!(id = %v.id, user = %v.user, device = ?v.device, stage = ?v.stage, "verification");
            let _ = self.events.send(ChatEvent::Verification(v)).await;
        }
    }

    /// Follows a request until it turns into an emoji exchange or ends.
    fn follow_request(&self, request: VerificationRequest) {
        if !self.remember(request.flow_id(), request.other_user_id()) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.report(Self::describe_request(&request)).await;
            let mut changes = request.changes();
            while let Some(state) = changes.next().await {
                match state {
                    VerificationRequestState::Ready { .. } if request.we_started() => {
                        // We asked, they agreed: we start the emoji exchange.
                        match request.start_sas().await {
                            Ok(Some(sas)) => {
                                this.follow_sas(sas, request.flow_id().to_owned());
                                return;
                            }
                            Ok(None) => {
                                tracing::warn!(flow = %request.flow_id(), "the other device cannot do emoji verification");
                            }
                            Err(e) => {
                                tracing::warn!(flow = %request.flow_id(), error = %e, "could not start the emoji exchange");
                            }
                        }
                    }
                    VerificationRequestState::Transitioned { verification, .. } => {
                        if let Some(sas) = verification.sas() {
                            this.follow_sas(sas, request.flow_id().to_owned());
                        } else {
                            let _ = request.cancel().await;
                        }
                        return;
                    }
                    VerificationRequestState::Done | VerificationRequestState::Cancelled(_) => {
                        this.report(Self::describe_request(&request)).await;
                        return;
                    }
                    _ => this.report(Self::describe_request(&request)).await,
                }
            }
        });
    }

    /// Follows an emoji exchange to its end. Accepting the other side's start only lets the keys
    /// be exchanged; trust needs `confirm`.
    fn follow_sas(&self, sas: SasVerification, flow: String) {
        let this = self.clone();
        tokio::spawn(async move {
            if !sas.we_started()
                && matches!(sas.state(), SasState::Started { .. })
                && let Err(e) = sas.accept().await
            {
                tracing::warn!(%flow, error = %e, "could not accept the emoji exchange");
            }
            let mut last = None;
            let mut report = |stage: VerificationStage| {
                let changed = last.as_ref() != Some(&stage);
                last = Some(stage);
                changed
            };
            let current = sas_stage(&sas, &sas.state());
            if report(current) {
                this.report(Self::describe_sas(&sas, &flow)).await;
            }
            let mut changes = sas.changes();
            while let Some(state) = changes.next().await {
                let stage = sas_stage(&sas, &state);
                let finished = stage.is_finished();
                if report(stage) {
                    this.report(Self::describe_sas(&sas, &flow)).await;
                }
                if finished {
                    return;
                }
            }
        });
    }

    /// Sends what the encryption layer still has queued. A verification's last messages (e.g.
    /// `m.key.verification.done`) go out after the sync that produced them; a process about to
    /// exit calls this so the other side does not wait for them forever.
    pub async fn settle(&self) {
        let settings = matrix_sdk::config::SyncSettings::default().timeout(std::time::Duration::ZERO);
        if let Err(e) = self.client.sync_once(settings).await {
            tracing::warn!(error = %e, "could not send the last encryption messages");
        }
    }

    /// Creates a recovery key and stores the bot's secrets (cross-signing keys, the backup key)
    /// on the server under it, so a lost store can be recovered. Returns the key, which is shown
    /// once and never kept by the bot. With `reset`, an existing recovery key is replaced.
    ///
    /// Only for the command line: a recovery key must never be posted in a room.
    pub async fn enable_recovery(&self, reset: bool) -> Result<String, EncryptionError> {
        use matrix_sdk::encryption::recovery::RecoveryState;
        let recovery = self.client.encryption().recovery();
        self.client.encryption().wait_for_e2ee_initialization_tasks().await;
        match recovery.state() {
            RecoveryState::Enabled | RecoveryState::Incomplete if reset => recovery.reset_key().await.map_err(failed),
            RecoveryState::Enabled => Err(EncryptionError::Failed(
                "recovery is already enabled; pass --reset to replace the recovery key (the old one stops working)"
                    .into(),
            )),
            _ => recovery.enable().wait_for_backups_to_upload().await.map_err(failed),
        }
    }

    /// Restores the bot's secrets from the server with its recovery key: after a lost store, the
    /// new device becomes the same trusted identity and reads old room keys from the backup.
    pub async fn recover(&self, recovery_key: &str) -> Result<(), EncryptionError> {
        let encryption = self.client.encryption();
        encryption.wait_for_e2ee_initialization_tasks().await;
        encryption.recovery().recover(recovery_key.trim()).await.map_err(failed)?;
        // With the account's self-signing key back, the new device signs itself, so everyone
        // who trusts the bot's identity trusts this device too.
        if let Some(own) = encryption.get_own_device().await.map_err(failed)?
            && !own.is_cross_signed_by_owner()
        {
            own.verify().await.map_err(failed)?;
        }
        Ok(())
    }

    async fn request_of(&self, id: &str) -> Result<Option<VerificationRequest>, EncryptionError> {
        let user = self.user_of(id)?;
        Ok(self.client.encryption().get_verification_request(&user, id).await)
    }

    async fn sas_of(&self, id: &str) -> Result<SasVerification, EncryptionError> {
        let user = self.user_of(id)?;
        match self.client.encryption().get_verification(&user, id).await {
            Some(SdkVerification::SasV1(sas)) => Ok(sas),
            _ => {
                let stage = match self.request_of(id).await? {
                    Some(request) => format!("{:?}", request_stage(&request.state())),
                    None => "finished".into(),
                };
                Err(EncryptionError::WrongStage { id: id.into(), action: "compare emojis", stage })
            }
        }
    }

    async fn current(&self, id: &str) -> Result<Verification, EncryptionError> {
        let user = self.user_of(id)?;
        if let Some(SdkVerification::SasV1(sas)) = self.client.encryption().get_verification(&user, id).await {
            return Self::describe_sas(&sas, id).ok_or_else(|| EncryptionError::UnknownVerification(id.into()));
        }
        match self.client.encryption().get_verification_request(&user, id).await {
            Some(request) => {
                Self::describe_request(&request).ok_or_else(|| EncryptionError::UnknownVerification(id.into()))
            }
            None => Err(EncryptionError::UnknownVerification(id.into())),
        }
    }
}

#[async_trait]
impl EncryptionPort for MatrixEncryption {
    async fn status(&self) -> Result<EncryptionStatus, EncryptionError> {
        let encryption = self.client.encryption();
        let own = encryption.get_own_device().await.map_err(failed)?;
        let cross = encryption.cross_signing_status().await;
        Ok(EncryptionStatus {
            device_id: self.client.device_id().map(ToString::to_string).unwrap_or_default(),
            fingerprint: own.as_ref().and_then(|d| d.ed25519_key()).map(|k| k.to_base64()),
            cross_signing: cross.is_some_and(|c| c.has_master && c.has_self_signing && c.has_user_signing),
            device_verified: own.is_some_and(|d| d.is_cross_signed_by_owner()),
            key_backup: format!("{:?}", encryption.backups().state()).to_lowercase(),
            recovery: format!("{:?}", encryption.recovery().state()).to_lowercase(),
        })
    }

    async fn devices(&self, user: &UserId) -> Result<Vec<DeviceSummary>, EncryptionError> {
        let devices = self.client.encryption().get_user_devices(&sdk_user(user)?).await.map_err(failed)?;
        let mut list: Vec<DeviceSummary> = devices
            .devices()
            .map(|d| DeviceSummary {
                user: user.clone(),
                device_id: d.device_id().to_string(),
                display_name: d.display_name().map(str::to_owned),
                verified: d.is_verified(),
            })
            .collect();
        list.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        Ok(list)
    }

    async fn request(&self, user: &UserId, device: &str) -> Result<Verification, EncryptionError> {
        let unknown = || EncryptionError::UnknownDevice { user: user.to_string(), device: device.to_owned() };
        let device_id = matrix_sdk::ruma::OwnedDeviceId::from(device);
        let found = self.client.encryption().get_device(&sdk_user(user)?, &device_id).await.map_err(failed)?;
        let found = found.ok_or_else(unknown)?;
        let request = found.request_verification().await.map_err(failed)?;
        let described = Self::describe_request(&request).ok_or_else(unknown)?;
        self.follow_request(request);
        Ok(described)
    }

    async fn pending(&self) -> Vec<Verification> {
        let mut flows: Vec<(u64, String)> = {
            let flows = self.flows.lock().unwrap_or_else(PoisonError::into_inner);
            flows.iter().map(|(flow, (seq, _))| (*seq, flow.clone())).collect()
        };
        flows.sort();
        let mut pending = Vec::new();
        for (_, flow) in flows {
            if let Ok(v) = self.current(&flow).await
                && !v.stage.is_finished()
            {
                pending.push(v);
            }
        }
        pending
    }

    async fn accept(&self, id: &str) -> Result<Verification, EncryptionError> {
        let request = self.request_of(id).await?.ok_or_else(|| EncryptionError::UnknownVerification(id.into()))?;
        if request.we_started() || !matches!(request.state(), VerificationRequestState::Requested { .. }) {
            return Err(EncryptionError::WrongStage {
                id: id.into(),
                action: "be accepted",
                stage: format!("{:?}", request_stage(&request.state())),
            });
        }
        request.accept().await.map_err(failed)?;
        self.current(id).await
    }

    async fn confirm(&self, id: &str) -> Result<Verification, EncryptionError> {
        let sas = self.sas_of(id).await?;
        if !matches!(sas.state(), SasState::KeysExchanged { .. }) {
            return Err(EncryptionError::WrongStage {
                id: id.into(),
                action: "be confirmed",
                stage: format!("{:?}", sas_stage(&sas, &sas.state())),
            });
        }
        sas.confirm().await.map_err(failed)?;
        self.current(id).await
    }

    async fn mismatch(&self, id: &str) -> Result<Verification, EncryptionError> {
        let sas = self.sas_of(id).await?;
        sas.mismatch().await.map_err(failed)?;
        self.current(id).await
    }

    async fn cancel(&self, id: &str) -> Result<Verification, EncryptionError> {
        let user = self.user_of(id)?;
        if let Some(SdkVerification::SasV1(sas)) = self.client.encryption().get_verification(&user, id).await {
            sas.cancel().await.map_err(failed)?;
        } else if let Some(request) = self.client.encryption().get_verification_request(&user, id).await {
            request.cancel().await.map_err(failed)?;
        } else {
            return Err(EncryptionError::UnknownVerification(id.into()));
        }
        self.current(id).await
    }
}

#[cfg(test)]
mod tests {
    use matrix_sdk::ruma::{MilliSecondsSinceUnixEpoch, UInt};

    use super::is_recent;

    fn minutes_ago(minutes: u64) -> MilliSecondsSinceUnixEpoch {
        let now = u64::from(MilliSecondsSinceUnixEpoch::now().get());
        MilliSecondsSinceUnixEpoch(UInt::new(now - minutes * 60_000).unwrap())
    }

    #[test]
    fn only_requests_younger_than_ten_minutes_are_asked_back() {
        assert!(is_recent(MilliSecondsSinceUnixEpoch::now()));
        assert!(is_recent(minutes_ago(9)));
        assert!(!is_recent(minutes_ago(11)));
        assert!(!is_recent(minutes_ago(60 * 24 * 3)), "a request queued for days");
    }
}
