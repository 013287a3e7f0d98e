//! Reports to the server's administrators (spec "Reporting content"): an event of a room the
//! reporter is in, a room, or a user. Recorded for the administrators; nothing else happens.

use std::sync::Arc;

use estafette_storage::ReportRecord;
use ruma::{EventId, RoomId, UserId};

use crate::{Context, Requester, RoomService, ServiceError, ServiceResult};

/// Longest reason kept, in characters.
const MAX_REASON: usize = 2_000;

#[derive(Clone)]
pub struct ReportService {
    context: Arc<Context>,
    rooms: RoomService,
}

fn checked_reason(reason: Option<String>) -> ServiceResult<String> {
    let reason = reason.unwrap_or_default();
    if reason.chars().count() > MAX_REASON {
        return Err(ServiceError::InvalidParam(format!(
            "The reason is longer than {MAX_REASON} characters"
        )));
    }
    Ok(reason)
}

impl ReportService {
    pub(crate) fn new(context: Arc<Context>, rooms: RoomService) -> Self {
        Self { context, rooms }
    }

    async fn record(&self, requester: &Requester, report: ReportRecord) -> ServiceResult<()> {
        let id = self.context.storage.reports.add(&report).await?;
        tracing::info!(id, kind = %report.kind, reporter = %requester.user_id, "report received");
        Ok(())
    }

    fn report(&self, requester: &Requester, kind: &str, reason: String) -> ReportRecord {
        ReportRecord {
            id: 0,
            kind: kind.to_owned(),
            room_id: None,
            event_id: None,
            reported_user: None,
            reporter: requester.user_id.clone(),
            reason,
            received_ts: self.context.now(),
        }
    }

    /// An event of a room the reporter is joined to; unknown, elsewhere or redacted events are
    /// `NotFound` alike.
    pub async fn report_event(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        event_id: &EventId,
        reason: Option<String>,
    ) -> ServiceResult<()> {
        let reason = checked_reason(reason)?;
        let not_found = || {
            ServiceError::NotFound(
                "The event was not found or you are not joined to its room".into(),
            )
        };
        let membership = self
            .context
            .storage
            .memberships
            .get(room_id, &requester.user_id)
            .await?;
        if membership.is_none_or(|m| m.membership != "join") {
            return Err(not_found());
        }
        let event = self.rooms.pdu(event_id).await?.ok_or_else(not_found)?;
        if event.room_id != room_id || event.redacted_by.is_some() {
            return Err(not_found());
        }
        let mut report = self.report(requester, "event", reason);
        report.room_id = Some(room_id.to_owned());
        report.event_id = Some(event_id.to_owned());
        report.reported_user = Some(event.sender);
        self.record(requester, report).await
    }

    /// A room this server knows, whether the reporter is in it or not.
    pub async fn report_room(
        &self,
        requester: &Requester,
        room_id: &RoomId,
        reason: Option<String>,
    ) -> ServiceResult<()> {
        let reason = checked_reason(reason)?;
        if self.context.storage.rooms.get(room_id).await?.is_none() {
            return Err(ServiceError::NotFound("The room was not found".into()));
        }
        let mut report = self.report(requester, "room", reason);
        report.room_id = Some(room_id.to_owned());
        self.record(requester, report).await
    }

    /// A user of this server who exists, or of another server.
    pub async fn report_user(
        &self,
        requester: &Requester,
        user_id: &UserId,
        reason: Option<String>,
    ) -> ServiceResult<()> {
        let reason = checked_reason(reason)?;
        let local = user_id.server_name() == self.context.server_name;
        if local && self.context.storage.users.get(user_id).await?.is_none() {
            return Err(ServiceError::NotFound("The user was not found".into()));
        }
        let mut report = self.report(requester, "user", reason);
        report.reported_user = Some(user_id.to_owned());
        self.record(requester, report).await
    }
}
