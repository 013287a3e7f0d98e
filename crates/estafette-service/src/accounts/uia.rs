//! User-interactive authentication (spec: "User-interactive authentication API"). A session
//! is bound to the action it was started for and to the user who started it, so that a
//! completed stage cannot be replayed to authorise something else.

use std::sync::Arc;

use estafette_storage::UiaSessionRecord;
use ruma::UserId;
use ruma::api::client::uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo, UserIdentifier};
use ruma::api::error::{ErrorKind, StandardErrorBody};

use super::{ThreepidValidationService, ValidationPurpose};
use crate::{Context, ServiceError, ServiceResult, SessionService};

const SESSION_ID_LENGTH: usize = 24;

/// What a UIA session authorises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiaAction {
    Register,
    ChangePassword,
    Deactivate,
    DeleteDevices,
    UploadSigningKeys,
    ResetPassword,
    AddThreepid,
    GetLoginToken,
}

impl UiaAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::ChangePassword => "change_password",
            Self::Deactivate => "deactivate",
            Self::DeleteDevices => "delete_devices",
            Self::UploadSigningKeys => "upload_signing_keys",
            Self::ResetPassword => "reset_password",
            Self::AddThreepid => "add_threepid",
            Self::GetLoginToken => "get_login_token",
        }
    }
}

#[derive(Clone)]
pub struct UiaService {
    context: Arc<Context>,
    sessions: SessionService,
    validations: ThreepidValidationService,
}

impl UiaService {
    pub(crate) fn new(
        context: Arc<Context>,
        sessions: SessionService,
        validations: ThreepidValidationService,
    ) -> Self {
        Self {
            context,
            sessions,
            validations,
        }
    }

    /// The flows that re-authenticate a logged-in user before a sensitive action.
    pub fn password_flows() -> Vec<Vec<AuthType>> {
        vec![vec![AuthType::Password]]
    }

    /// Re-authenticates a logged-in user (their password) before a sensitive action.
    pub async fn reauthenticate(
        &self,
        action: UiaAction,
        user_id: &UserId,
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        self.authorize(action, Some(user_id), &Self::password_flows(), auth)
            .await
    }

    /// Before cross-signing keys are replaced: the password, or `m.oauth` — the reset the
    /// user approved on the account management page, which users of OAuth 2.0 clients (some
    /// without a password) go through. An approval is used once.
    pub async fn authorize_key_reset(
        &self,
        user_id: &UserId,
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        let now = self.context.now();
        if self
            .context
            .storage
            .oauth_account
            .take_reset(user_id, now)
            .await?
        {
            return Ok(());
        }
        let flows = vec![vec![AuthType::Password], vec![AuthType::OAuth]];
        self.authorize(UiaAction::UploadSigningKeys, Some(user_id), &flows, auth)
            .await
    }

    /// What the client needs for the stages of `flows`: where `m.oauth` sends the user.
    fn params(&self, flows: &[Vec<AuthType>]) -> serde_json::Value {
        if !flows
            .iter()
            .flatten()
            .any(|stage| *stage == AuthType::OAuth)
        {
            return serde_json::json!({});
        }
        let url = format!(
            "{}{}?action=org.matrix.cross_signing_reset",
            self.context.config.base_url(),
            crate::oauth::ACCOUNT_PATH
        );
        serde_json::json!({ "m.oauth": { "url": url } })
    }

    /// Succeeds once `auth` completes one of `flows`; otherwise fails with
    /// [`ServiceError::AuthenticationRequired`] describing what remains.
    pub async fn authorize(
        &self,
        action: UiaAction,
        user_id: Option<&UserId>,
        flows: &[Vec<AuthType>],
        auth: Option<&AuthData>,
    ) -> ServiceResult<()> {
        let params = self.params(flows);
        let refuse = |session: &UiaSessionRecord, error| challenge(flows, &params, session, error);
        let Some(auth) = auth else {
            let session = self.start(action, user_id).await?;
            return Err(refuse(&session, None));
        };
        let session = match auth.session() {
            Some(id) => self.resume(id, action, user_id).await?,
            None => self.start(action, user_id).await?,
        };
        let Some(stage) = auth.auth_type() else {
            // A fallback acknowledgement only asks where the session stands.
            return self.outcome(flows, &params, session).await;
        };
        if !flows.iter().any(|flow| flow.contains(&stage)) {
            let error = StandardErrorBody::new(
                ErrorKind::Unrecognized,
                format!("Authentication stage {stage} is not offered here"),
            );
            return Err(refuse(&session, Some(error)));
        }
        match auth {
            AuthData::Dummy(_) => {}
            AuthData::EmailIdentity(email) => {
                let credentials = &email.thirdparty_id_creds;
                let purpose = match action {
                    UiaAction::Register => ValidationPurpose::Registration,
                    UiaAction::ResetPassword => ValidationPurpose::PasswordReset,
                    _ => ValidationPurpose::AddThreepid,
                };
                let validated = self
                    .validations
                    .validated_address(
                        credentials.sid.as_str(),
                        credentials.client_secret.as_str(),
                        purpose,
                    )
                    .await;
                if let Err(err) = validated {
                    if let ServiceError::Storage(_) = err {
                        return Err(err);
                    }
                    let error = StandardErrorBody::new(ErrorKind::Unauthorized, err.to_string());
                    return Err(refuse(&session, Some(error)));
                }
            }
            AuthData::Password(password) => {
                let verified = match (user_id, &password.identifier) {
                    (Some(user_id), UserIdentifier::Matrix(id)) => {
                        match self.sessions.local_user_id(&id.user) {
                            Ok(claimed) if claimed == user_id => {
                                self.sessions
                                    .check_password(user_id, &password.password)
                                    .await
                            }
                            _ => Err(ServiceError::Forbidden(
                                "The identifier does not match your account".into(),
                            )),
                        }
                    }
                    _ => Err(ServiceError::Forbidden(
                        "Password authentication needs an m.id.user identifier".into(),
                    )),
                };
                if let Err(err) = verified {
                    if let ServiceError::Storage(_) = err {
                        return Err(err);
                    }
                    let error =
                        StandardErrorBody::new(ErrorKind::Forbidden, "Invalid password".to_owned());
                    return Err(refuse(&session, Some(error)));
                }
            }
            _ => {
                let error = StandardErrorBody::new(
                    ErrorKind::Unrecognized,
                    format!("Unsupported stage {stage}"),
                );
                return Err(refuse(&session, Some(error)));
            }
        }
        self.context
            .storage
            .uia_sessions
            .add_completed(&session.session_id, stage.as_str())
            .await?;
        let mut session = session;
        if !session.completed.iter().any(|s| s == stage.as_str()) {
            session.completed.push(stage.as_str().to_owned());
        }
        self.outcome(flows, &params, session).await
    }

    async fn outcome(
        &self,
        flows: &[Vec<AuthType>],
        params: &serde_json::Value,
        session: UiaSessionRecord,
    ) -> ServiceResult<()> {
        let done = flows.iter().any(|flow| {
            flow.iter()
                .all(|stage| session.completed.iter().any(|c| c == stage.as_str()))
        });
        if done {
            self.context
                .storage
                .uia_sessions
                .delete(&session.session_id)
                .await?;
            Ok(())
        } else {
            Err(challenge(flows, params, &session, None))
        }
    }

    async fn start(
        &self,
        action: UiaAction,
        user_id: Option<&UserId>,
    ) -> ServiceResult<UiaSessionRecord> {
        let now = self.context.now();
        let lifetime = self
            .context
            .config
            .auth
            .uia_session_lifetime_secs
            .saturating_mul(1000);
        self.context
            .storage
            .uia_sessions
            .delete_created_before(now.saturating_sub(lifetime))
            .await?;
        let session = UiaSessionRecord {
            session_id: self.context.random.alphanumeric(SESSION_ID_LENGTH),
            action: action.as_str().to_owned(),
            user_id: user_id.map(ToOwned::to_owned),
            completed: Vec::new(),
            created_ts: now,
        };
        self.context.storage.uia_sessions.create(&session).await?;
        Ok(session)
    }

    async fn resume(
        &self,
        id: &str,
        action: UiaAction,
        user_id: Option<&UserId>,
    ) -> ServiceResult<UiaSessionRecord> {
        let lifetime = self
            .context
            .config
            .auth
            .uia_session_lifetime_secs
            .saturating_mul(1000);
        let session = self
            .context
            .storage
            .uia_sessions
            .get(id)
            .await?
            .filter(|s| s.created_ts.saturating_add(lifetime) > self.context.now())
            .ok_or_else(|| {
                ServiceError::Unknown(format!("Unknown or expired authentication session {id}"))
            })?;
        if session.action != action.as_str() || session.user_id.as_deref() != user_id {
            return Err(ServiceError::Forbidden(
                "This authentication session was started for another request".into(),
            ));
        }
        Ok(session)
    }
}

fn challenge(
    flows: &[Vec<AuthType>],
    params: &serde_json::Value,
    session: &UiaSessionRecord,
    error: Option<StandardErrorBody>,
) -> ServiceError {
    let mut info = UiaaInfo::new(
        flows
            .iter()
            .map(|stages| AuthFlow::new(stages.clone()))
            .collect(),
    );
    info.completed = session
        .completed
        .iter()
        .map(|stage| AuthType::from(stage.as_str()))
        .collect();
    info.session = Some(session.session_id.clone());
    info.params = serde_json::value::to_raw_value(params).ok();
    info.auth_error = error.map(Box::new);
    ServiceError::AuthenticationRequired(Box::new(info))
}

#[cfg(test)]
mod tests {
    use ruma::api::client::uiaa::{
        AuthData, AuthType, Dummy, FallbackAcknowledgement, MatrixUserIdentifier, Password,
        UserIdentifier,
    };
    use ruma::user_id;

    use super::UiaAction;
    use crate::testing::services;
    use crate::{NewAccount, ServiceError};

    fn session_of(err: ServiceError) -> String {
        match err {
            ServiceError::AuthenticationRequired(info) => info.session.expect("a session"),
            other => panic!("expected a UIA challenge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn password_stage_needs_the_right_password_and_binds_to_the_action() {
        let (_dir, services, _clock) = services().await;
        let account = NewAccount {
            localpart: Some("alice".into()),
            password: Some("secret-pass".into()),
            ..Default::default()
        };
        services.accounts.create(account).await.unwrap();
        let alice = user_id!("@alice:example.org");
        let flows = super::UiaService::password_flows();

        let first = services
            .uia
            .authorize(UiaAction::DeleteDevices, Some(alice), &flows, None)
            .await
            .unwrap_err();
        let session = session_of(first);
        let password = |pw: &str, session: &str| {
            let mut p = Password::new(
                UserIdentifier::Matrix(MatrixUserIdentifier::new("alice".into())),
                pw.into(),
            );
            p.session = Some(session.to_owned());
            AuthData::Password(p)
        };
        let wrong = services
            .uia
            .authorize(
                UiaAction::DeleteDevices,
                Some(alice),
                &flows,
                Some(&password("bad", &session)),
            )
            .await;
        match wrong.unwrap_err() {
            ServiceError::AuthenticationRequired(info) => {
                assert!(info.auth_error.is_some());
                assert!(info.completed.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let other_action = services
            .uia
            .authorize(
                UiaAction::Deactivate,
                Some(alice),
                &flows,
                Some(&password("secret-pass", &session)),
            )
            .await;
        assert!(matches!(
            other_action.unwrap_err(),
            ServiceError::Forbidden(_)
        ));
        services
            .uia
            .authorize(
                UiaAction::DeleteDevices,
                Some(alice),
                &flows,
                Some(&password("secret-pass", &session)),
            )
            .await
            .unwrap();
        // A completed session is consumed.
        let again = services
            .uia
            .authorize(
                UiaAction::DeleteDevices,
                Some(alice),
                &flows,
                Some(&password("secret-pass", &session)),
            )
            .await;
        assert!(matches!(again.unwrap_err(), ServiceError::Unknown(_)));
    }

    #[tokio::test]
    async fn dummy_flow_and_fallback_acknowledgement() {
        let (_dir, services, clock) = services().await;
        let flows = vec![vec![AuthType::Dummy]];
        let session = session_of(
            services
                .uia
                .authorize(UiaAction::Register, None, &flows, None)
                .await
                .unwrap_err(),
        );
        let ack = AuthData::FallbackAcknowledgement(FallbackAcknowledgement::new(session.clone()));
        assert_eq!(
            session_of(
                services
                    .uia
                    .authorize(UiaAction::Register, None, &flows, Some(&ack))
                    .await
                    .unwrap_err()
            ),
            session
        );
        let mut dummy = Dummy::new();
        dummy.session = Some(session.clone());
        clock.advance(601_000);
        let expired = services
            .uia
            .authorize(
                UiaAction::Register,
                None,
                &flows,
                Some(&AuthData::Dummy(dummy.clone())),
            )
            .await;
        assert!(matches!(expired.unwrap_err(), ServiceError::Unknown(_)));
        let fresh = session_of(
            services
                .uia
                .authorize(UiaAction::Register, None, &flows, None)
                .await
                .unwrap_err(),
        );
        dummy.session = Some(fresh);
        services
            .uia
            .authorize(
                UiaAction::Register,
                None,
                &flows,
                Some(&AuthData::Dummy(dummy)),
            )
            .await
            .unwrap();
    }
}
