//! Transactions to application services (BRIDGES.md §2.1–§2.3), with Synapse's delivery
//! engine: each service's events walked in stream order, at most 100 per transaction; each
//! transaction written to the database before it is sent, under an ID that only rises; one in
//! flight per service; a failure marks the service down and the same transaction (same ID,
//! same body) is retried after 2 s, doubling to 512 s; a successful ping retries at once.
//! Every process runs the loop, claiming a service before sending to it.

use std::sync::Arc;
use std::time::Duration;

use estafette_core::Registration;
use serde_json::{Value as JsonValue, json};

use super::device_extensions;
use super::interest::{RoomFacts, interested, room_interested};
use crate::{Context, Pdu, RoomService, ServiceError, ServiceResult, TypingService};

/// How long a claim holds before another process may take the service over.
const CLAIM_LEASE_MS: u64 = 60_000;
const MAX_EVENTS_PER_TRANSACTION: usize = 100;
/// Receipts, and to-device messages, looked at per transaction.
const MAX_RECEIPTS_PER_TRANSACTION: u32 = 100;
const MAX_TO_DEVICE_PER_TRANSACTION: u32 = 100;
/// Events looked at per step, interesting or not.
const EVENTS_PER_SCAN: u32 = 500;
/// Transactions sent to one service per pass, so that one busy service does not hold the
/// others back.
const TRANSACTIONS_PER_PASS: usize = 20;
const FIRST_BACKOFF_MS: u64 = 2_000;
const MAX_BACKOFF_MS: u64 = 512_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AppserviceDelivery {
    context: Arc<Context>,
    rooms: RoomService,
    typing: TypingService,
    http: reqwest::Client,
}

enum Step {
    /// A transaction went out; there may be more.
    Sent,
    /// Nothing more to send now.
    Idle,
}

impl AppserviceDelivery {
    pub(crate) fn new(context: Arc<Context>, rooms: RoomService, typing: TypingService) -> Self {
        Self {
            context,
            rooms,
            typing,
            http: crate::plain_http_client(REQUEST_TIMEOUT),
        }
    }

    /// Delivers until the server stops: soon after new events, at retries, and now and then.
    /// Each service has a loop of its own, so that one that is slow to answer holds no
    /// other back.
    pub async fn run(self) {
        let services: Vec<Arc<Registration>> = self
            .context
            .appservices
            .all()
            .iter()
            .filter(|service| service.url.is_some())
            .cloned()
            .collect();
        if services.is_empty() {
            return;
        }
        let wakes: Vec<Arc<tokio::sync::Notify>> =
            services.iter().map(|_| Arc::default()).collect();
        let loops = services.iter().zip(&wakes).map(|(service, wake)| {
            crate::due_loop::run(&self.context, wake, "appservice delivery", || {
                self.deliver_due(service)
            })
        });
        let fan_out = async {
            loop {
                self.context.appservice_wake.notified().await;
                for wake in &wakes {
                    wake.notify_one();
                }
            }
        };
        futures_util::future::join(fan_out, futures_util::future::join_all(loops)).await;
    }

    /// For a process alone on its database (SQLite), at start-up: claims an earlier run
    /// left when it stopped mid-pass are its own, released rather than waited out.
    pub async fn forget_claims(&self) -> ServiceResult<()> {
        Ok(self.context.storage.appservices.release_all().await?)
    }

    /// Sends what waits for the service, unless it is failing and not due again; returns
    /// when it is.
    pub async fn deliver_due(&self, service: &Registration) -> ServiceResult<Option<u64>> {
        let store = &self.context.storage.appservices;
        let now = self.context.now();
        let start = self.context.storage.streams.current().await?;
        let state = store.state(&service.id, start).await?;
        if state.retry_ts > now {
            return Ok(Some(state.retry_ts));
        }
        if !store
            .claim(&service.id, now, now.saturating_sub(CLAIM_LEASE_MS))
            .await?
        {
            return Ok(None);
        }
        let served = self.serve(service).await;
        store.release(&service.id).await?;
        if let Err(err) = served {
            tracing::warn!(appservice = %service.id, "appservice delivery: {err}");
        }
        let state = store.state(&service.id, start).await?;
        Ok((state.retry_ts > self.context.now()).then_some(state.retry_ts))
    }

    async fn serve(&self, service: &Registration) -> ServiceResult<()> {
        let mut facts = RoomFacts::default();
        for _ in 0..TRANSACTIONS_PER_PASS {
            match self.step(service, &mut facts).await? {
                Step::Sent => {}
                Step::Idle => break,
            }
        }
        Ok(())
    }

    /// Sends the oldest stored transaction, or makes the next one and sends it.
    async fn step(&self, service: &Registration, facts: &mut RoomFacts) -> ServiceResult<Step> {
        let store = &self.context.storage.appservices;
        let transaction = match store.oldest_transaction(&service.id).await? {
            Some(stored) => stored,
            None => match self.next_transaction(service, facts).await? {
                Some(stored) => stored,
                None => return Ok(Step::Idle),
            },
        };
        match self
            .put(service, transaction.txn_id, &transaction.body)
            .await
        {
            Ok(()) => {
                tracing::debug!(appservice = %service.id, txn_id = transaction.txn_id, "transaction sent");
                store.sent(&service.id, transaction.txn_id).await?;
                Ok(Step::Sent)
            }
            Err(why) => {
                let now = self.context.now();
                let state = store.state(&service.id, 0).await?;
                let backoff = (state.backoff_ms * 2).clamp(FIRST_BACKOFF_MS, MAX_BACKOFF_MS);
                store
                    .failed(
                        &service.id,
                        state.down_since.unwrap_or(now),
                        backoff,
                        now + backoff,
                    )
                    .await?;
                Err(ServiceError::Unavailable(format!(
                    "transaction {} failed ({why}); retried in {backoff} ms",
                    transaction.txn_id
                )))
            }
        }
    }

    /// Walks the stream from the service's position and stores the next transaction of what
    /// interests it; `None` when nothing does (the position still moves on).
    async fn next_transaction(
        &self,
        service: &Registration,
        facts: &mut RoomFacts,
    ) -> ServiceResult<Option<estafette_storage::StoredTransaction>> {
        let store = &self.context.storage.appservices;
        let mut current = self.context.storage.streams.current().await?;
        let start = store.state(&service.id, current).await?.stream_position;
        let mut ephemeral = Vec::new();
        let mut to_device: Vec<JsonValue> = Vec::new();
        let mut delivered_to_device: std::collections::BTreeMap<
            (ruma::OwnedUserId, ruma::OwnedDeviceId),
            i64,
        > = std::collections::BTreeMap::new();
        if service.wants_ephemeral() {
            let receipts = self
                .context
                .storage
                .receipts
                .between(start, current, MAX_RECEIPTS_PER_TRANSACTION)
                .await?;
            if receipts.len() == MAX_RECEIPTS_PER_TRANSACTION as usize
                && let Some(last) = receipts.last()
            {
                // More than one transaction's worth: the rest, and the events after, next.
                current = last.stream_id;
            }
            let messages = self
                .context
                .storage
                .to_device
                .between(start, current, MAX_TO_DEVICE_PER_TRANSACTION)
                .await?;
            if messages.len() == MAX_TO_DEVICE_PER_TRANSACTION as usize
                && let Some(last) = messages.last()
            {
                current = current.min(last.message.stream_id);
            }
            let receipts = receipts.into_iter().filter(|r| r.stream_id <= current);
            ephemeral = self
                .ephemeral(service, facts, start, current, receipts.collect())
                .await?;
            to_device = messages
                .into_iter()
                .filter(|m| m.message.stream_id <= current && service.is_user_of(&m.user_id))
                .inspect(|m| {
                    let newest = delivered_to_device
                        .entry((m.user_id.clone(), m.device_id.clone()))
                        .or_insert(m.message.stream_id);
                    *newest = (*newest).max(m.message.stream_id);
                })
                .map(|m| {
                    let content: JsonValue =
                        serde_json::from_str(&m.message.content_json).unwrap_or_default();
                    json!({
                        "type": m.message.event_type, "sender": m.message.sender,
                        "content": content, "to_user_id": m.user_id, "to_device_id": m.device_id,
                    })
                })
                .collect();
        }
        let mut position = start;
        let mut events = Vec::new();
        while position < current && events.len() < MAX_EVENTS_PER_TRANSACTION {
            let records = self
                .context
                .storage
                .events
                .stream_events(position, current, EVENTS_PER_SCAN)
                .await?;
            let Some(last) = records.last() else {
                position = current;
                break;
            };
            let scanned_to = last.stream_ordering;
            for record in records {
                let at = record.stream_ordering;
                let pdu = Pdu::from_record(record)?;
                facts.changed_by(&pdu);
                if interested(&self.context, service, &pdu, facts).await? {
                    events.push(self.client_event(pdu).await?);
                }
                position = at;
                if events.len() == MAX_EVENTS_PER_TRANSACTION {
                    break;
                }
            }
            if events.len() < MAX_EVENTS_PER_TRANSACTION {
                position = scanned_to;
            }
        }
        if events.len() < MAX_EVENTS_PER_TRANSACTION {
            // The ephemeral data was read up to `current`, which the events reached.
            position = position.max(current);
        }
        let changed_lists = if service.device_extensions {
            device_extensions::changed_device_lists(&self.context, service, facts, start, position)
                .await?
        } else {
            Vec::new()
        };
        if events.is_empty()
            && ephemeral.is_empty()
            && to_device.is_empty()
            && changed_lists.is_empty()
        {
            store.advance(&service.id, position).await?;
            return Ok(None);
        }
        let device_fields = match service.device_extensions {
            true => Some(
                device_extensions::transaction_fields(
                    &self.context,
                    service,
                    (changed_lists, facts),
                    (&events, &ephemeral, &to_device),
                )
                .await?,
            ),
            false => None,
        };
        let mut body = json!({ "events": events });
        if !ephemeral.is_empty() {
            // One key, the one the service reads (bot-sdk only the unstable one).
            let key = if service.push_ephemeral_unstable {
                "de.sorunome.msc2409.ephemeral"
            } else {
                "ephemeral"
            };
            body[key] = JsonValue::Array(ephemeral);
        }
        if let Some(fields) = device_fields
            && let Some(object) = body.as_object_mut()
        {
            object.extend(fields);
        }
        if !to_device.is_empty() {
            // MSC2409's to-device messages for the service's users (its devices there
            // never sync).
            body["de.sorunome.msc2409.to_device"] = JsonValue::Array(to_device);
        }
        let body = body.to_string();
        let txn_id = store
            .store_transaction(&service.id, position, &body)
            .await?;
        // Kept in the transaction until the service has it: the inboxes of its devices, which
        // nothing else reads, need not keep them too.
        for ((user_id, device_id), up_to) in delivered_to_device {
            self.context
                .storage
                .to_device
                .take(&user_id, &device_id, up_to, 0)
                .await?;
        }
        Ok(Some(estafette_storage::StoredTransaction { txn_id, body }))
    }

    /// Typing and receipts in the rooms that interest the service, in client format with
    /// their room (BRIDGES.md §2.4); private receipts only of its own users.
    async fn ephemeral(
        &self,
        service: &Registration,
        facts: &mut RoomFacts,
        after: i64,
        until: i64,
        receipts: Vec<estafette_storage::ReceiptRecord>,
    ) -> ServiceResult<Vec<JsonValue>> {
        let mut items = Vec::new();
        for (room_id, users) in self.typing.changed_between(after, until) {
            if room_interested(&self.context, service, &room_id, facts).await? {
                items.push(json!({
                    "type": "m.typing", "room_id": room_id,
                    "content": {"user_ids": users},
                }));
            }
        }
        for receipt in receipts {
            let private = receipt.receipt_type == crate::RECEIPT_READ_PRIVATE;
            if (private && !service.is_user_of(&receipt.user_id))
                || !room_interested(&self.context, service, &receipt.room_id, facts).await?
            {
                continue;
            }
            let mut data = json!({ "ts": receipt.ts });
            if !receipt.thread_id.is_empty() {
                data["thread_id"] = json!(receipt.thread_id);
            }
            items.push(json!({
                "type": "m.receipt", "room_id": receipt.room_id,
                "content": { receipt.event_id.as_str(): {
                    receipt.receipt_type.as_str(): { receipt.user_id.as_str(): data }
                }},
            }));
        }
        Ok(items)
    }

    /// The event as clients see it, with what bridges read in `unsigned`: its age, the
    /// state it replaced, and an invite's room state.
    async fn client_event(&self, pdu: Pdu) -> ServiceResult<JsonValue> {
        let mut event = pdu.to_client_json(true);
        let age = self
            .context
            .now()
            .saturating_sub(pdu.origin_server_ts.get().into());
        event["unsigned"]["age"] = json!(age);
        if let Some(state_key) = &pdu.state_key {
            if let Some(previous) = self.previous_content(&pdu, state_key).await? {
                event["unsigned"]["prev_content"] = previous;
            }
            let invited = pdu.kind == ruma::events::TimelineEventType::RoomMember
                && serde_json::from_str::<JsonValue>(pdu.content.get())
                    .is_ok_and(|content| content["membership"] == "invite");
            if invited {
                let mut stripped: Vec<JsonValue> = self
                    .rooms
                    .stripped_state_pdus(&pdu.room_id)
                    .await?
                    .iter()
                    .map(Pdu::stripped)
                    .collect();
                stripped.push(pdu.stripped());
                event["unsigned"]["invite_room_state"] = JsonValue::Array(stripped);
            }
        }
        Ok(event)
    }

    /// The content of the state event this one replaced, as the state before it had it.
    async fn previous_content(
        &self,
        pdu: &Pdu,
        state_key: &str,
    ) -> ServiceResult<Option<JsonValue>> {
        let Some(prev) = pdu.prev_events.first() else {
            return Ok(None);
        };
        let Some(prev_record) = self.context.storage.events.get(prev).await? else {
            return Ok(None);
        };
        let state = self.rooms.load_state(prev_record.state_group).await?;
        let key = (
            ruma::events::StateEventType::from(pdu.kind.to_string()),
            state_key.to_owned(),
        );
        let Some(replaced) = state.get(&key) else {
            return Ok(None);
        };
        Ok(self
            .rooms
            .pdu(replaced)
            .await?
            .and_then(|previous| serde_json::from_str(previous.content.get()).ok()))
    }

    async fn put(&self, service: &Registration, txn_id: i64, body: &str) -> Result<(), String> {
        let url = service.url.as_deref().ok_or("no URL")?;
        let response = self
            .http
            .put(format!("{url}/_matrix/app/v1/transactions/{txn_id}"))
            .bearer_auth(&service.hs_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("status {}", response.status()))
        }
    }
}
