//! Redactions, relations (edits, reactions, references, threads) and the aggregations bundled
//! into events for clients.

use estafette_storage::RelationRecord;
use ruma::events::TimelineEventType;
use ruma::{EventId, OwnedEventId, RoomId, UserId};
use serde_json::{Value as JsonValue, json};

use super::RoomService;
use super::timeline::Txn;
use crate::{EventDraft, Pdu, Requester, ServiceError, ServiceResult};

/// Relations of an event, a page at a time.
#[derive(Debug, Clone)]
pub struct RelationsPage {
    pub chunk: Vec<Pdu>,
    pub next_batch: Option<i64>,
}

impl RoomService {
    /// `PUT /rooms/{roomId}/redact/{eventId}/{txnId}`: the sender of an event, or a member with
    /// the `redact` power, may redact it.
    pub async fn redact(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
        reason: Option<&str>,
        txn_id: &str,
    ) -> ServiceResult<OwnedEventId> {
        let target = self.visible_event(requester, room_id, event_id).await?;
        if target.sender != requester.user_id {
            let (_, rules) = self.room_rules(room_id).await?;
            let (state, _) = self.current_state(room_id).await?;
            let levels = self.power_levels(&state, &rules).await?;
            if !levels.allows(&requester.user_id, levels.field("redact", 50)) {
                return Err(ServiceError::Forbidden(
                    "You cannot redact other users' events".into(),
                ));
            }
        }
        let mut content = json!({"redacts": event_id});
        if let Some(reason) = reason {
            content["reason"] = json!(reason);
        }
        let draft = EventDraft::message(TimelineEventType::RoomRedaction, content);
        let txn = Txn {
            device_id: &requester.device_id,
            scope: format!("redact/{room_id}/{event_id}"),
            txn_id,
        };
        Ok(self
            .append(room_id, &requester.user_id, draft, Some(txn))
            .await?
            .event_id)
    }

    /// Indexes a new event's relation and text, and applies a redaction; called once the
    /// event is stored.
    pub(crate) async fn after_store(&self, pdu: &Pdu, stream_ordering: i64) -> ServiceResult<()> {
        self.index_for_search(pdu, stream_ordering).await?;
        self.after_store_indexed(pdu, stream_ordering).await
    }

    /// [`Self::after_store`] for an event stored with its search text.
    pub(crate) async fn after_store_indexed(
        &self,
        pdu: &Pdu,
        stream_ordering: i64,
    ) -> ServiceResult<()> {
        if let Some((rel_type, relates_to_id, key)) = pdu.relates_to() {
            let record = RelationRecord {
                event_id: pdu.event_id.clone(),
                relates_to_id,
                rel_type,
                event_type: pdu.kind.to_string(),
                sender: pdu.sender.clone(),
                aggregation_key: key,
                stream_ordering,
            };
            self.context
                .storage
                .relations
                .insert(&pdu.room_id, &record)
                .await?;
        }
        if pdu.kind == TimelineEventType::RoomRedaction {
            if let Some(target_id) = pdu.redacts() {
                self.apply_redaction(pdu, target_id).await?;
            }
        }
        Ok(())
    }

    async fn apply_redaction(&self, redaction: &Pdu, target_id: &EventId) -> ServiceResult<()> {
        let Some(target) = self.pdu(target_id).await? else {
            return Ok(());
        };
        if target.room_id != redaction.room_id || target.redacted_by.is_some() {
            return Ok(());
        }
        let (_, rules) = self.room_rules(&target.room_id).await?;
        let redacted = ruma::canonical_json::redact(target.json.clone(), &rules.redaction, None)
            .map_err(|e| ServiceError::Internal(format!("cannot redact {target_id}: {e}")))?;
        let json = ruma::canonical_json::CanonicalJsonValue::Object(redacted).to_string();
        self.context
            .storage
            .events
            .redact(target_id, &json, &redaction.event_id)
            .await?;
        self.pdu_cache.remove(target_id);
        self.windows.clear();
        self.context
            .notifier
            .broadcast(crate::cluster::ClusterMessage::Evict {
                event_id: target_id.to_owned(),
            });
        self.context.storage.relations.delete(target_id).await?;
        self.context.storage.search.remove(target_id).await?;
        Ok(())
    }

    /// Adds what clients expect in `unsigned`: the redaction that pruned an event, and the
    /// bundled aggregations of its edits, thread and references.
    pub(crate) async fn bundle(&self, viewer: &UserId, pdus: &mut [Pdu]) -> ServiceResult<()> {
        self.bundle_with(viewer, pdus, true).await
    }

    /// [`Self::bundle`], told by the caller whether any of the events may be the target of a
    /// relation at all (`false` when the caller knows none is).
    pub(crate) async fn bundle_with(
        &self,
        viewer: &UserId,
        pdus: &mut [Pdu],
        relations: bool,
    ) -> ServiceResult<()> {
        // Most events have nothing to aggregate: one query finds those that do.
        let unredacted: Vec<&EventId> = pdus
            .iter()
            .filter(|pdu| pdu.redacted_by.is_none())
            .map(|pdu| pdu.event_id.as_ref())
            .collect();
        let targets = if unredacted.is_empty() || !relations {
            Default::default()
        } else {
            self.context
                .storage
                .relations
                .bundled_targets(&unredacted)
                .await?
        };
        for pdu in pdus.iter_mut() {
            if let Some(redaction_id) = pdu.redacted_by.clone() {
                if let Some(redaction) = self.pdu(&redaction_id).await? {
                    pdu.unsigned
                        .insert("redacted_because".into(), redaction.to_client_json(true));
                }
                continue;
            }
            if !targets.contains(&pdu.event_id) {
                continue;
            }
            let mut relations = serde_json::Map::new();
            if let Some(replacement) = self.latest_replacement(pdu).await? {
                relations.insert("m.replace".into(), replacement.to_client_json(true));
            }
            if let Some(summary) = self
                .context
                .storage
                .relations
                .thread_summary(&pdu.event_id)
                .await?
            {
                if let Some(latest) = self.pdu(&summary.latest_event).await? {
                    let participated = self
                        .context
                        .storage
                        .relations
                        .participated(&pdu.event_id, viewer)
                        .await?;
                    relations.insert(
                        "m.thread".into(),
                        json!({"latest_event": latest.to_client_json(true), "count": summary.count,
                               "current_user_participated": participated}),
                    );
                }
            }
            let references = self
                .context
                .storage
                .relations
                .relations_of(
                    &pdu.event_id,
                    Some("m.reference"),
                    None,
                    0,
                    i64::MAX,
                    true,
                    100,
                )
                .await?;
            if !references.is_empty() {
                let chunk: Vec<JsonValue> = references
                    .iter()
                    .map(|r| json!({"event_id": r.event_id}))
                    .collect();
                relations.insert("m.reference".into(), json!({"chunk": chunk}));
            }
            if !relations.is_empty() {
                pdu.unsigned
                    .insert("m.relations".into(), JsonValue::Object(relations));
            }
        }
        Ok(())
    }

    /// The newest valid edit: same sender and event type as the original (spec: "Validity of
    /// replacement events").
    async fn latest_replacement(&self, original: &Pdu) -> ServiceResult<Option<Pdu>> {
        if original
            .relates_to()
            .is_some_and(|(rel_type, _, _)| rel_type == "m.replace")
        {
            return Ok(None);
        }
        let edits = self
            .context
            .storage
            .relations
            .relations_of(
                &original.event_id,
                Some("m.replace"),
                None,
                0,
                i64::MAX,
                false,
                50,
            )
            .await?;
        for edit in edits {
            if edit.sender != original.sender || edit.event_type != original.kind.to_string() {
                continue;
            }
            if let Some(pdu) = self.pdu(&edit.event_id).await? {
                if pdu.redacted_by.is_none() {
                    return Ok(Some(pdu));
                }
            }
        }
        Ok(None)
    }

    /// `/relations/{eventId}[/{relType}[/{eventType}]]`
    #[allow(clippy::too_many_arguments)]
    pub async fn relations(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
        rel_type: Option<&str>,
        event_type: Option<&str>,
        from: Option<i64>,
        forward: bool,
        limit: u32,
    ) -> ServiceResult<RelationsPage> {
        self.visible_event(requester, room_id, event_id).await?;
        let limit = limit.clamp(1, 1000);
        let (after, until) = match (forward, from) {
            (true, from) => (from.unwrap_or(0), i64::MAX),
            (false, Some(from)) => (0, from),
            (false, None) => (0, i64::MAX),
        };
        let records = self
            .context
            .storage
            .relations
            .relations_of(event_id, rel_type, event_type, after, until, forward, limit)
            .await?;
        let next_batch = (records.len() as u32 == limit)
            .then(|| {
                records.last().map(|r| {
                    if forward {
                        r.stream_ordering
                    } else {
                        r.stream_ordering - 1
                    }
                })
            })
            .flatten();
        let mut chunk = Vec::with_capacity(records.len());
        for record in records {
            if let Some(pdu) = self.pdu(&record.event_id).await? {
                chunk.push(pdu);
            }
        }
        self.bundle(&requester.user_id, &mut chunk).await?;
        Ok(RelationsPage { chunk, next_batch })
    }

    /// `/rooms/{roomId}/threads`: thread roots by latest activity.
    pub async fn threads(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        participated_only: bool,
        from: Option<i64>,
        limit: u32,
    ) -> ServiceResult<RelationsPage> {
        let until = self
            .visible_until(&requester.user_id, room_id)
            .await?
            .unwrap_or(i64::MAX);
        let until = from.map_or(until, |from| from.min(until));
        let limit = limit.clamp(1, 100);
        let participant = participated_only.then_some(requester.user_id.as_ref());
        let summaries = self
            .context
            .storage
            .relations
            .threads(room_id, participant, until, limit)
            .await?;
        let next_batch = (summaries.len() as u32 == limit)
            .then(|| summaries.last().map(|s| s.latest_ordering - 1))
            .flatten();
        let mut chunk = Vec::with_capacity(summaries.len());
        for summary in summaries {
            if let Some(pdu) = self.pdu(&summary.root).await? {
                chunk.push(pdu);
            }
        }
        self.bundle(&requester.user_id, &mut chunk).await?;
        Ok(RelationsPage { chunk, next_batch })
    }
}
