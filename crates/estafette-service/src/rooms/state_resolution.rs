//! State resolution over stored PDUs with ruma-state-res: v2, and v2.1 for room version 12
//! (which also needs the conflicted state subgraph). Used when forks meet: concurrent local
//! and remote events, and joins over federation.

use std::collections::{HashMap, HashSet};

use ruma::room_version_rules::RoomVersionRules;
use ruma::state_res::StateMap;
use ruma::state_res::utils::event_id_set::EventIdSet;
use ruma::{EventId, OwnedEventId};

use crate::{Pdu, ServiceError, ServiceResult};

/// All events reachable from `start` through `auth_events`.
pub(crate) fn auth_chain<'a>(
    start: impl IntoIterator<Item = &'a OwnedEventId>,
    events: &HashMap<OwnedEventId, Pdu>,
) -> HashSet<OwnedEventId> {
    let mut chain = HashSet::new();
    let mut todo: Vec<OwnedEventId> = start.into_iter().cloned().collect();
    while let Some(id) = todo.pop() {
        if let Some(pdu) = events.get(&id) {
            for auth in &pdu.auth_events {
                if chain.insert(auth.clone()) {
                    todo.push(auth.clone());
                }
            }
        }
    }
    chain
}

/// The conflicted state subgraph (room v12): events on an auth path from one conflicted
/// event to another, the conflicted events included.
fn conflicted_subgraph(
    conflicted: &HashSet<OwnedEventId>,
    events: &HashMap<OwnedEventId, Pdu>,
) -> HashSet<OwnedEventId> {
    // An event is in the subgraph when a conflicted event reaches it and it reaches one.
    let reaches_conflicted = |id: &OwnedEventId| {
        conflicted.contains(id)
            || auth_chain(std::iter::once(id), events)
                .iter()
                .any(|a| conflicted.contains(a))
    };
    let mut subgraph = HashSet::new();
    for start in conflicted {
        subgraph.insert(start.clone());
        for id in auth_chain(std::iter::once(start), events) {
            if reaches_conflicted(&id) {
                subgraph.insert(id);
            }
        }
    }
    subgraph
}

/// Resolves the given states of one room. `events` holds every event of the states and of
/// their auth chains.
pub fn resolve(
    rules: &RoomVersionRules,
    states: &[StateMap<OwnedEventId>],
    events: &HashMap<OwnedEventId, Pdu>,
) -> ServiceResult<StateMap<OwnedEventId>> {
    let state_res_rules = rules.state_res.v2_rules().ok_or_else(|| {
        ServiceError::Internal("state resolution v1 rooms are not supported".into())
    })?;
    let auth_chains: Vec<EventIdSet<OwnedEventId>> = states
        .iter()
        .map(|state| auth_chain(state.values(), events).into_iter().collect())
        .collect();
    ruma::state_res::resolve(
        &rules.authorization,
        state_res_rules,
        states.iter(),
        auth_chains,
        |id: &EventId| events.get(id).cloned(),
        |conflicted: &StateMap<Vec<OwnedEventId>>| {
            let ids: HashSet<OwnedEventId> = conflicted.values().flatten().cloned().collect();
            Some(conflicted_subgraph(&ids, events).into_iter().collect())
        },
    )
    .map_err(|e| ServiceError::Internal(format!("state resolution failed: {e}")))
}

/// Convenience for callers holding state as the stored map type.
pub fn to_state_map(state: &crate::StateMap) -> StateMap<OwnedEventId> {
    state
        .iter()
        .map(|((kind, key), id)| ((kind.clone(), key.clone()), id.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    //! Scenarios named after the conflict they show. Events are built by hand (unsigned):
    //! state resolution looks at the graph and the auth rules, not at signatures.

    use std::collections::HashMap;

    use ruma::OwnedEventId;
    use ruma::events::StateEventType;
    use ruma::room_version_rules::RoomVersionRules;
    use ruma::state_res::StateMap;
    use serde_json::{Value, json};

    use super::resolve;

    /// The event ID a resolved state holds for a type and key.
    fn state_get<'a>(
        state: &'a StateMap<OwnedEventId>,
        kind: StateEventType,
        key: &str,
    ) -> Option<&'a OwnedEventId> {
        state.get(&(kind, key.to_owned()))
    }
    use crate::Pdu;

    const ALICE: &str = "@alice:example.org";
    const BOB: &str = "@bob:example.org";
    const CAROL: &str = "@carol:example.org";

    /// A room's events, added in order; each new event points at the previous ones it names.
    struct Room {
        version: &'static str,
        events: HashMap<OwnedEventId, Pdu>,
        ts: u64,
    }

    impl Room {
        fn new(version: &'static str) -> Self {
            Self {
                version,
                events: HashMap::new(),
                ts: 0,
            }
        }

        fn add(
            &mut self,
            id: &str,
            sender: &str,
            kind: &str,
            state_key: Option<&str>,
            content: Value,
            auth: &[&str],
            prev: &[&str],
        ) -> OwnedEventId {
            self.ts += 1;
            let event_id = OwnedEventId::try_from(format!("${id}")).unwrap();
            // A v12 room's ID is its create event's ID; the create event names no room.
            let room_id = if self.version == "12" {
                "!create"
            } else {
                "!room:example.org"
            };
            let mut json = json!({
                "type": kind, "sender": sender, "content": content, "origin_server_ts": self.ts, "depth": self.ts,
                "room_id": room_id,
                "auth_events": auth.iter().map(|a| format!("${a}")).collect::<Vec<_>>(),
                "prev_events": prev.iter().map(|p| format!("${p}")).collect::<Vec<_>>(),
                "hashes": {"sha256": "x"}, "signatures": {},
            });
            if let Some(key) = state_key {
                json["state_key"] = json!(key);
            }
            if self.version == "12" && kind == "m.room.create" {
                json.as_object_mut().unwrap().remove("room_id");
            }
            let pdu = Pdu::from_json(event_id.clone(), &json.to_string()).unwrap();
            self.events.insert(event_id.clone(), pdu);
            event_id
        }

        fn state(&self, ids: &[&str]) -> StateMap<OwnedEventId> {
            ids.iter()
                .map(|id| {
                    let pdu = &self.events[&OwnedEventId::try_from(format!("${id}")).unwrap()];
                    (
                        (
                            StateEventType::from(pdu.kind.to_string()),
                            pdu.state_key.clone().unwrap(),
                        ),
                        pdu.event_id.clone(),
                    )
                })
                .collect()
        }

        fn rules(&self) -> RoomVersionRules {
            ruma::RoomVersionId::try_from(self.version)
                .unwrap()
                .rules()
                .unwrap()
        }

        /// The common start: Alice creates the room (100), Bob gets 50, both joined, public.
        fn base(version: &'static str) -> Self {
            let mut room = Self::new(version);
            let v12 = version == "12";
            let create_content = if v12 {
                json!({"room_version": version})
            } else {
                json!({"creator": ALICE, "room_version": version})
            };
            room.add(
                "create",
                ALICE,
                "m.room.create",
                Some(""),
                create_content,
                &[],
                &[],
            );
            let create: &[&str] = if v12 { &[] } else { &["create"] };
            let auth = |extra: &[&'static str]| [create, extra].concat();
            room.add(
                "ma",
                ALICE,
                "m.room.member",
                Some(ALICE),
                json!({"membership": "join"}),
                &auth(&[]),
                &["create"],
            );
            let users = if v12 {
                json!({BOB: 50})
            } else {
                json!({ALICE: 100, BOB: 50})
            };
            room.add(
                "pl",
                ALICE,
                "m.room.power_levels",
                Some(""),
                json!({"users": users, "state_default": 50}),
                &auth(&["ma"]),
                &["ma"],
            );
            room.add(
                "jr",
                ALICE,
                "m.room.join_rules",
                Some(""),
                json!({"join_rule": "public"}),
                &auth(&["ma", "pl"]),
                &["pl"],
            );
            room.add(
                "mb",
                BOB,
                "m.room.member",
                Some(BOB),
                json!({"membership": "join"}),
                &auth(&["pl", "jr"]),
                &["jr"],
            );
            room.add(
                "mc",
                CAROL,
                "m.room.member",
                Some(CAROL),
                json!({"membership": "join"}),
                &auth(&["pl", "jr"]),
                &["mb"],
            );
            room.add(
                "topic",
                ALICE,
                "m.room.topic",
                Some(""),
                json!({"topic": "original"}),
                &auth(&["ma", "pl"]),
                &["mc"],
            );
            room
        }

        fn base_state(&self) -> Vec<&'static str> {
            vec!["create", "ma", "pl", "jr", "mb", "mc", "topic"]
        }

        fn creates(&self) -> &'static [&'static str] {
            if self.version == "12" {
                &[]
            } else {
                &["create"]
            }
        }
    }

    fn id(name: &str) -> OwnedEventId {
        OwnedEventId::try_from(format!("${name}")).unwrap()
    }

    /// Alice demotes Bob while Bob, on another fork, changes the topic: the demotion wins and
    /// Bob's topic, no longer authorised, is dropped.
    fn demotion_beats_concurrent_state_change(version: &'static str) {
        let mut room = Room::base(version);
        let create = room.creates();
        let users = if version == "12" {
            json!({BOB: 0})
        } else {
            json!({ALICE: 100, BOB: 0})
        };
        room.add(
            "demote",
            ALICE,
            "m.room.power_levels",
            Some(""),
            json!({"users": users, "state_default": 50}),
            &[create, &["ma", "pl"]].concat(),
            &["topic"],
        );
        room.add(
            "bobtopic",
            BOB,
            "m.room.topic",
            Some(""),
            json!({"topic": "bob's"}),
            &[create, &["mb", "pl"]].concat(),
            &["topic"],
        );
        let mut fork_a = room.base_state();
        fork_a.retain(|e| *e != "pl");
        fork_a.push("demote");
        let mut fork_b = room.base_state();
        fork_b.retain(|e| *e != "topic");
        fork_b.push("bobtopic");
        let resolved = resolve(
            &room.rules(),
            &[room.state(&fork_a), room.state(&fork_b)],
            &room.events,
        )
        .unwrap();
        assert_eq!(
            state_get(&resolved, StateEventType::RoomPowerLevels, ""),
            Some(&id("demote"))
        );
        assert_eq!(
            state_get(&resolved, StateEventType::RoomTopic, ""),
            Some(&id("topic")),
            "bob's topic lost its authority"
        );
    }

    /// Alice bans Carol while Carol, on another fork, updates her membership (a new display
    /// name): the ban stands.
    fn ban_beats_concurrent_membership_update(version: &'static str) {
        let mut room = Room::base(version);
        let create = room.creates();
        room.add(
            "ban",
            ALICE,
            "m.room.member",
            Some(CAROL),
            json!({"membership": "ban"}),
            &[create, &["ma", "pl", "mc"]].concat(),
            &["topic"],
        );
        room.add(
            "rename",
            CAROL,
            "m.room.member",
            Some(CAROL),
            json!({"membership": "join", "displayname": "C"}),
            &[create, &["pl", "jr", "mc"]].concat(),
            &["topic"],
        );
        let mut fork_a = room.base_state();
        fork_a.retain(|e| *e != "mc");
        fork_a.push("ban");
        let mut fork_b = room.base_state();
        fork_b.retain(|e| *e != "mc");
        fork_b.push("rename");
        let resolved = resolve(
            &room.rules(),
            &[room.state(&fork_a), room.state(&fork_b)],
            &room.events,
        )
        .unwrap();
        assert_eq!(
            state_get(&resolved, StateEventType::RoomMember, CAROL),
            Some(&id("ban"))
        );
    }

    /// Two concurrent topic changes by the same user: the later one (by mainline and
    /// timestamp order) wins, the same on every server.
    fn concurrent_topics_resolve_deterministically(version: &'static str) {
        let mut room = Room::base(version);
        let create = room.creates();
        room.add(
            "t1",
            ALICE,
            "m.room.topic",
            Some(""),
            json!({"topic": "first"}),
            &[create, &["ma", "pl"]].concat(),
            &["topic"],
        );
        room.add(
            "t2",
            ALICE,
            "m.room.topic",
            Some(""),
            json!({"topic": "second"}),
            &[create, &["ma", "pl"]].concat(),
            &["topic"],
        );
        let mut fork_a = room.base_state();
        fork_a.retain(|e| *e != "topic");
        let mut fork_b = fork_a.clone();
        fork_a.push("t1");
        fork_b.push("t2");
        let forward = resolve(
            &room.rules(),
            &[room.state(&fork_a), room.state(&fork_b)],
            &room.events,
        )
        .unwrap();
        let backward = resolve(
            &room.rules(),
            &[room.state(&fork_b), room.state(&fork_a)],
            &room.events,
        )
        .unwrap();
        assert_eq!(forward, backward, "the order of the forks does not matter");
        assert_eq!(
            state_get(&forward, StateEventType::RoomTopic, ""),
            Some(&id("t2"))
        );
    }

    #[test]
    fn demotion_beats_concurrent_state_change_v11() {
        demotion_beats_concurrent_state_change("11");
    }

    #[test]
    fn demotion_beats_concurrent_state_change_v12() {
        demotion_beats_concurrent_state_change("12");
    }

    #[test]
    fn ban_beats_concurrent_membership_update_v11() {
        ban_beats_concurrent_membership_update("11");
    }

    #[test]
    fn ban_beats_concurrent_membership_update_v12() {
        ban_beats_concurrent_membership_update("12");
    }

    #[test]
    fn concurrent_topics_resolve_deterministically_v11() {
        concurrent_topics_resolve_deterministically("11");
    }

    #[test]
    fn concurrent_topics_resolve_deterministically_v12() {
        concurrent_topics_resolve_deterministically("12");
    }
}
