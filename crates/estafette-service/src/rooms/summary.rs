//! Room summaries (spec v1.15 `/room_summary`; Element X's previews, and the federation's
//! `/hierarchy`): what a room is, before joining it, for those the room lets see it — its
//! members (joined, invited, knocking), anyone where anyone may join, knock or read, and
//! members of the rooms a restricted room allows. A room another server holds is asked of it.

use ruma::api::federation::space::get_hierarchy;
use ruma::events::StateEventType;
use ruma::{OwnedRoomId, OwnedServerName, RoomId, RoomOrAliasId, ServerName, UserId};
use serde_json::Value as JsonValue;

use super::RoomService;
use super::directory::PublicRoom;
use crate::{ServiceError, ServiceResult};

/// A room's summary, and the requester's membership in it.
#[derive(Debug, Clone)]
pub struct RoomSummary {
    pub room: PublicRoom,
    pub room_version: String,
    pub encryption: Option<String>,
    pub allowed_room_ids: Vec<OwnedRoomId>,
    pub membership: Option<String>,
}

impl RoomSummary {
    /// Whether anyone may see it: anyone may join, knock or read.
    fn open(&self) -> bool {
        self.room.world_readable
            || matches!(
                self.room.join_rule.as_str(),
                "public" | "knock" | "knock_restricted"
            )
    }

    fn restricted(&self) -> bool {
        matches!(
            self.room.join_rule.as_str(),
            "restricted" | "knock_restricted"
        )
    }
}

/// A space as another server sees it through `/hierarchy`.
#[derive(Debug, Clone)]
pub struct ServerHierarchy {
    pub room: RoomSummary,
    pub children_state: Vec<JsonValue>,
    pub children: Vec<RoomSummary>,
    pub inaccessible_children: Vec<OwnedRoomId>,
}

/// Who asks for a summary.
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    /// A client, signed in or not.
    User(Option<&'a UserId>),
    /// Another server (`/hierarchy`), for its users.
    Server(&'a ServerName),
}

impl RoomService {
    /// The summary of a room for a client (`None`: not signed in). A room the caller may not
    /// see is not found.
    pub async fn summary(
        &self,
        requester: Option<&UserId>,
        room: &RoomOrAliasId,
        via: &[OwnedServerName],
    ) -> ServiceResult<RoomSummary> {
        let (room_id, mut servers) = match <&RoomId>::try_from(room) {
            Ok(room_id) => (room_id.to_owned(), via.to_vec()),
            Err(alias) => {
                let (room_id, servers) = self.resolve_alias(alias).await?;
                (room_id, [via, &servers].concat())
            }
        };
        let viewer = Viewer::User(requester);
        if self.is_resident(&room_id).await? {
            return self.local_summary(&room_id, viewer).await;
        }
        servers.extend(room_id.server_name().map(ToOwned::to_owned));
        // Each server asked once, in the order given.
        let mut asked = std::collections::HashSet::new();
        servers
            .retain(|server| *server != self.context.server_name && asked.insert(server.clone()));
        let mut summary = self
            .remote_summary(&room_id, &servers)
            .await
            .ok_or_else(|| not_found(room))?;
        summary.membership = match requester {
            Some(user_id) => self
                .context
                .storage
                .memberships
                .get(&room_id, user_id)
                .await?
                .map(|m| m.membership),
            None => None,
        };
        match self.may_see(&summary, viewer).await? {
            true => Ok(summary),
            false => Err(not_found(room)),
        }
    }

    /// The summary of a room this server is in, if `viewer` may see it.
    pub async fn local_summary(
        &self,
        room_id: &RoomId,
        viewer: Viewer<'_>,
    ) -> ServiceResult<RoomSummary> {
        let public = self.room_summary(room_id.to_owned()).await?;
        let (state, _) = self.current_state(room_id).await?;
        let join_rules = self
            .state_content(&state, StateEventType::RoomJoinRules, "")
            .await?
            .unwrap_or_default();
        let encryption = self
            .state_content(&state, StateEventType::RoomEncryption, "")
            .await?
            .and_then(|content| content["algorithm"].as_str().map(ToOwned::to_owned));
        let membership = match viewer {
            Viewer::User(Some(user_id)) => self
                .context
                .storage
                .memberships
                .get(room_id, user_id)
                .await?
                .map(|m| m.membership),
            _ => None,
        };
        let (version, _) = self.room_rules(room_id).await?;
        let summary = RoomSummary {
            room: public,
            room_version: version.to_string(),
            encryption,
            allowed_room_ids: allowed_rooms(&join_rules),
            membership,
        };
        match self.may_see(&summary, viewer).await? {
            true => Ok(summary),
            false => Err(not_found(room_id)),
        }
    }

    /// `/hierarchy` for another server: the room's summary and `m.space.child` events, the
    /// summaries of the children it may see here, and those it may not.
    pub async fn hierarchy_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        suggested_only: bool,
    ) -> ServiceResult<ServerHierarchy> {
        if !self.is_resident(room_id).await? {
            return Err(not_found(room_id));
        }
        let viewer = Viewer::Server(origin);
        let room = self.local_summary(room_id, viewer).await?;
        let mut hierarchy = ServerHierarchy {
            room,
            children_state: Vec::new(),
            children: Vec::new(),
            inaccessible_children: Vec::new(),
        };
        for (child, event) in self.space_children(room_id, suggested_only).await? {
            hierarchy.children_state.push(event);
            if !self.is_resident(&child).await? {
                continue;
            }
            match self.local_summary(&child, viewer).await {
                Ok(summary) => hierarchy.children.push(summary),
                Err(ServiceError::NotFound(_)) => hierarchy.inaccessible_children.push(child),
                Err(e) => return Err(e),
            }
        }
        Ok(hierarchy)
    }

    /// Whether `viewer` may see the room: open, a member, or (restricted) a member of a room
    /// it allows; for a server, through any of its users.
    async fn may_see(&self, summary: &RoomSummary, viewer: Viewer<'_>) -> ServiceResult<bool> {
        if summary.open() {
            return Ok(true);
        }
        let memberships = &self.context.storage.memberships;
        let entered = |membership: &str| matches!(membership, "join" | "invite" | "knock");
        match viewer {
            Viewer::User(None) => Ok(false),
            Viewer::User(Some(user_id)) => {
                if summary.membership.as_deref().is_some_and(entered) {
                    return Ok(true);
                }
                if summary.restricted() {
                    for allowed in &summary.allowed_room_ids {
                        let joined = memberships.get(allowed, user_id).await?;
                        if joined.is_some_and(|m| m.membership == "join") {
                            return Ok(true);
                        }
                    }
                }
                Ok(false)
            }
            Viewer::Server(server) => {
                let of_server = |room: &RoomId| {
                    let room = room.to_owned();
                    async move {
                        let members = memberships.of_room(&room).await?;
                        Ok::<_, ServiceError>(
                            members
                                .into_iter()
                                .filter(|m| m.user_id.server_name() == server)
                                .map(|m| m.membership)
                                .collect::<Vec<_>>(),
                        )
                    }
                };
                if of_server(&summary.room.room_id)
                    .await?
                    .iter()
                    .any(|m| entered(m))
                {
                    return Ok(true);
                }
                if summary.restricted() {
                    for allowed in &summary.allowed_room_ids {
                        if of_server(allowed).await?.iter().any(|m| m == "join") {
                            return Ok(true);
                        }
                    }
                }
                Ok(false)
            }
        }
    }

    /// A room's summary as one of `servers` (in the room) gives it, through `/hierarchy`.
    async fn remote_summary(
        &self,
        room_id: &RoomId,
        servers: &[OwnedServerName],
    ) -> Option<RoomSummary> {
        for server in servers {
            let request = get_hierarchy::v1::Request::new(room_id.to_owned());
            match self.federation.send(server, request).await {
                Ok(response) if response.room.summary.room_id == room_id => {
                    let json = serde_json::to_value(&response.room.summary).ok()?;
                    return Some(from_json(room_id.to_owned(), &json));
                }
                Ok(_) => tracing::info!(%server, %room_id, "another room's summary was given"),
                Err(e) => tracing::info!(%server, %room_id, "no summary: {e}"),
            }
        }
        None
    }
}

fn not_found(room: impl std::fmt::Display) -> ServiceError {
    ServiceError::NotFound(format!("Room {room} not found"))
}

/// The rooms whose members a restricted join rule lets in.
fn allowed_rooms(join_rules: &JsonValue) -> Vec<OwnedRoomId> {
    join_rules["allow"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|allow| allow["type"] == "m.room_membership")
        .filter_map(|allow| allow["room_id"].as_str())
        .filter_map(|id| OwnedRoomId::try_from(id).ok())
        .collect()
}

/// A summary in the spec's shape (another server's answer).
fn from_json(room_id: OwnedRoomId, json: &JsonValue) -> RoomSummary {
    let text = |field: &str| json[field].as_str().map(ToOwned::to_owned);
    let room = PublicRoom {
        room_id,
        name: text("name"),
        topic: text("topic"),
        canonical_alias: text("canonical_alias").and_then(|a| a.try_into().ok()),
        avatar_url: text("avatar_url"),
        num_joined_members: json["num_joined_members"].as_u64().unwrap_or_default(),
        world_readable: json["world_readable"].as_bool().unwrap_or_default(),
        guest_can_join: json["guest_can_join"].as_bool().unwrap_or_default(),
        // The spec reads a missing join rule as public.
        join_rule: text("join_rule").unwrap_or_else(|| "public".to_owned()),
        room_type: text("room_type"),
    };
    let allowed_room_ids = json["allowed_room_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|id| id.as_str())
        .filter_map(|id| OwnedRoomId::try_from(id).ok())
        .collect();
    RoomSummary {
        room,
        room_version: text("room_version").unwrap_or_default(),
        encryption: text("encryption"),
        allowed_room_ids,
        membership: None,
    }
}
