//! Push rules (the spec's default ruleset, changed per user) and pushers. Rules live in the
//! server-managed `m.push_rules` account data, so clients also receive them through `/sync`.

use std::sync::Arc;

use estafette_storage::PusherRecord;
use ruma::UserId;
use ruma::push::{
    Action, AnyPushRule, ConditionalPushRuleInit, EventMatchConditionData, InsertPushRuleError,
    NewPushRule, PushCondition, RemovePushRuleError, RuleKind, Ruleset,
};
use serde_json::{Value as JsonValue, json};

use crate::rooms::PUSH_RULES;
use crate::{Context, Requester, ServiceError, ServiceResult};

/// MSC4028's rule: every encrypted event notifies, for clients that decrypt it and apply the
/// rules themselves (rooms set to mentions only, which the server cannot see through the
/// encryption). A server default, off until the user turns it on; ruma does not define it.
pub const ENCRYPTED_EVENT_RULE: &str = ".org.matrix.msc4028.encrypted_event";

/// The path every HTTP pusher's URL must have (spec: "Push Gateway API").
const PUSH_GATEWAY_PATH: &str = "/_matrix/push/v1/notify";

#[derive(Clone)]
pub struct PushService {
    context: Arc<Context>,
}

impl PushService {
    pub(crate) fn new(context: Arc<Context>) -> Self {
        Self { context }
    }

    pub async fn ruleset(&self, user_id: &UserId) -> ServiceResult<Ruleset> {
        load_ruleset(&self.context, user_id).await
    }

    /// A user's push rules as the spec shows them: every kind present, empty or not.
    pub async fn ruleset_json(&self, user_id: &UserId) -> ServiceResult<JsonValue> {
        Ok(spec_shape(&self.ruleset(user_id).await?))
    }

    async fn save(&self, user_id: &UserId, ruleset: &Ruleset) -> ServiceResult<()> {
        let json = json!({"global": spec_shape(ruleset)}).to_string();
        let now = self.context.now();
        let position = self
            .context
            .storage
            .account_data
            .set(user_id, None, PUSH_RULES, &json, now)
            .await?;
        self.context
            .notifier
            .notify(&[user_id.to_owned()], position);
        Ok(())
    }

    pub async fn rule(
        &self,
        requester: &Requester,
        kind: RuleKind,
        rule_id: &str,
    ) -> ServiceResult<AnyPushRule> {
        let ruleset = self.ruleset(&requester.user_id).await?;
        ruleset
            .get(kind, rule_id)
            .map(|rule| rule.to_owned())
            .ok_or_else(|| not_found(rule_id))
    }

    pub async fn set_rule(
        &self,
        requester: &Requester,
        rule: NewPushRule,
        before: Option<&str>,
        after: Option<&str>,
    ) -> ServiceResult<()> {
        let matched = match &rule {
            NewPushRule::Content(rule) => rule.pattern.clone(),
            NewPushRule::Override(rule) | NewPushRule::Underride(rule) => {
                serde_json::to_string(&rule.conditions).unwrap_or_default()
            }
            _ => String::new(),
        };
        crate::limits::bounded(
            "The push rule's pattern and conditions",
            &matched,
            crate::limits::MAX_PUSH_RULE_BYTES,
        )?;
        let mut ruleset = self.ruleset(&requester.user_id).await?;
        if ruleset.iter().count() >= crate::limits::MAX_PUSH_RULES {
            return Err(ServiceError::LimitExceeded(format!(
                "A user has at most {} push rules",
                crate::limits::MAX_PUSH_RULES
            )));
        }
        ruleset
            .insert(rule, after, before)
            .map_err(|err| match err {
                InsertPushRuleError::UnknownRuleId => {
                    ServiceError::NotFound("The before/after rule does not exist".into())
                }
                other => ServiceError::InvalidParam(other.to_string()),
            })?;
        self.save(&requester.user_id, &ruleset).await
    }

    pub async fn delete_rule(
        &self,
        requester: &Requester,
        kind: RuleKind,
        rule_id: &str,
    ) -> ServiceResult<()> {
        let mut ruleset = self.ruleset(&requester.user_id).await?;
        ruleset.remove(kind, rule_id).map_err(|err| match err {
            RemovePushRuleError::NotFound => not_found(rule_id),
            other => ServiceError::InvalidParam(other.to_string()),
        })?;
        self.save(&requester.user_id, &ruleset).await
    }

    pub async fn set_enabled(
        &self,
        requester: &Requester,
        kind: RuleKind,
        rule_id: &str,
        enabled: bool,
    ) -> ServiceResult<()> {
        let mut ruleset = self.ruleset(&requester.user_id).await?;
        ruleset
            .set_enabled(kind, rule_id, enabled)
            .map_err(|_| not_found(rule_id))?;
        self.save(&requester.user_id, &ruleset).await
    }

    pub async fn set_actions(
        &self,
        requester: &Requester,
        kind: RuleKind,
        rule_id: &str,
        actions: Vec<Action>,
    ) -> ServiceResult<()> {
        let mut ruleset = self.ruleset(&requester.user_id).await?;
        ruleset
            .set_actions(kind, rule_id, actions)
            .map_err(|_| not_found(rule_id))?;
        self.save(&requester.user_id, &ruleset).await
    }

    /// `/pushers/set` with a pusher: adds or replaces it. `pusher` is the spec's JSON object.
    pub async fn set_pusher(
        &self,
        requester: &Requester,
        pusher: &JsonValue,
        append: bool,
    ) -> ServiceResult<()> {
        let text = |field: &str| {
            pusher
                .get(field)
                .and_then(JsonValue::as_str)
                .map(ToOwned::to_owned)
        };
        let required = |field: &str| {
            text(field).ok_or_else(|| ServiceError::MissingParam(format!("{field} is required")))
        };
        let kind = required("kind")?;
        let data = pusher.get("data").cloned().unwrap_or_else(|| json!({}));
        if kind == "http" {
            let url = data
                .get("url")
                .and_then(JsonValue::as_str)
                .unwrap_or_default();
            let parsed = url::Url::parse(url)
                .map_err(|_| ServiceError::InvalidParam("data.url must be a URL".into()))?;
            if parsed.path() != PUSH_GATEWAY_PATH {
                return Err(ServiceError::InvalidParam(format!(
                    "data.url must have the path {PUSH_GATEWAY_PATH}"
                )));
            }
            let allowed = &self.context.config.push.gateway_hosts;
            let host = parsed.host_str().unwrap_or_default();
            if !allowed.is_empty() && !allowed.iter().any(|h| h.eq_ignore_ascii_case(host)) {
                return Err(ServiceError::InvalidParam(format!(
                    "This server sends no notifications to {host}"
                )));
            }
        }
        if kind == "email" {
            let addresses: Vec<String> = self
                .context
                .storage
                .threepids
                .of_user(&requester.user_id)
                .await?
                .into_iter()
                .filter(|threepid| threepid.medium == "email")
                .map(|threepid| threepid.address)
                .collect();
            crate::push::check_email_pusher(
                self.context.config.email.smtp_url.is_some(),
                &required("pushkey")?,
                &addresses,
            )?;
        }
        let record = PusherRecord {
            app_id: required("app_id")?,
            pushkey: required("pushkey")?,
            kind,
            app_display_name: required("app_display_name")?,
            device_display_name: required("device_display_name")?,
            profile_tag: text("profile_tag"),
            lang: required("lang")?,
            data_json: data.to_string(),
            device_id: Some(requester.device_id.to_string()),
        };
        let now = self.context.now();
        self.context
            .storage
            .pushers
            .set(&requester.user_id, &record, append, now)
            .await?;
        Ok(())
    }

    pub async fn delete_pusher(
        &self,
        requester: &Requester,
        app_id: &str,
        pushkey: &str,
    ) -> ServiceResult<()> {
        self.context
            .storage
            .pushers
            .delete(&requester.user_id, app_id, pushkey)
            .await?;
        Ok(())
    }

    /// The requester's pushers as the spec's JSON objects.
    pub async fn pushers(&self, requester: &Requester) -> ServiceResult<Vec<JsonValue>> {
        let records = self
            .context
            .storage
            .pushers
            .of_user(&requester.user_id)
            .await?;
        Ok(records
            .into_iter()
            .map(|p| {
                let data: JsonValue = serde_json::from_str(&p.data_json).unwrap_or_else(|_| json!({}));
                let mut pusher = json!({
                    "app_id": p.app_id, "pushkey": p.pushkey, "kind": p.kind, "app_display_name": p.app_display_name,
                    "device_display_name": p.device_display_name, "lang": p.lang, "data": data,
                });
                if let Some(tag) = p.profile_tag {
                    pusher["profile_tag"] = json!(tag);
                }
                pusher
            })
            .collect())
    }
}

/// The push rule kinds of the spec, which clients read whether or not they hold rules.
const RULE_KINDS: [&str; 5] = ["override", "content", "room", "sender", "underride"];

/// A ruleset with every kind present (ruma leaves empty kinds out).
fn spec_shape(ruleset: &Ruleset) -> JsonValue {
    let mut value = serde_json::to_value(ruleset).unwrap_or_else(|_| json!({}));
    if let Some(kinds) = value.as_object_mut() {
        for kind in RULE_KINDS {
            kinds.entry(kind).or_insert_with(|| json!([]));
        }
    }
    value
}

fn not_found(rule_id: &str) -> ServiceError {
    ServiceError::NotFound(format!("Push rule {rule_id} not found"))
}

/// The `m.push_rules` account data content of a user as `/sync` delivers it, from what is
/// stored: the defaults when the user changed nothing, every kind present.
pub(crate) fn rules_content(stored: Option<&str>, user_id: &UserId) -> String {
    json!({"global": spec_shape(&parse_ruleset(stored, user_id))}).to_string()
}

/// A user's push rules: the stored ruleset, or the spec's defaults.
pub(crate) async fn load_ruleset(context: &Context, user_id: &UserId) -> ServiceResult<Ruleset> {
    let stored = context
        .storage
        .account_data
        .get(user_id, None, PUSH_RULES)
        .await?;
    Ok(parse_ruleset(stored.as_deref(), user_id))
}

pub(crate) fn parse_ruleset(stored: Option<&str>, user_id: &UserId) -> Ruleset {
    let mut ruleset = stored
        .and_then(|json| {
            let value: JsonValue = serde_json::from_str(json).ok()?;
            serde_json::from_value::<Ruleset>(value.get("global")?.clone()).ok()
        })
        .unwrap_or_else(|| Ruleset::server_default(user_id));
    // After the user's own override rules (a muted room stays muted), as Synapse orders it.
    if ruleset.override_.get(ENCRYPTED_EVENT_RULE).is_none() {
        let condition = EventMatchConditionData::new("type".into(), "m.room.encrypted".into());
        ruleset.override_.insert(
            ConditionalPushRuleInit {
                actions: vec![Action::Notify],
                default: true,
                enabled: false,
                rule_id: ENCRYPTED_EVENT_RULE.to_owned(),
                conditions: vec![PushCondition::EventMatch(condition)],
            }
            .into(),
        );
    }
    ruleset
}
