//! Scenario helpers that read like the story a test tells: a user registers, logs in on a
//! second device, re-authenticates to delete it.

use std::future::Future;

use matrix_sdk::Client;
use matrix_sdk::ruma::api::client::account::register;
use matrix_sdk::ruma::api::client::uiaa::{self, AuthData, UiaaInfo};

use crate::TestServer;

/// A registered user and the SDK client of their first device.
pub struct User {
    pub client: Client,
    pub username: String,
    pub password: String,
}

/// Errors of SDK calls that may ask for user-interactive authentication.
pub trait UiaError: std::fmt::Debug {
    fn uiaa(&self) -> Option<&UiaaInfo>;
}

impl UiaError for matrix_sdk::Error {
    fn uiaa(&self) -> Option<&UiaaInfo> {
        self.as_uiaa_response()
    }
}

impl UiaError for matrix_sdk::HttpError {
    fn uiaa(&self) -> Option<&UiaaInfo> {
        self.as_uiaa_response()
    }
}

impl TestServer {
    /// An SDK client pointed at this server, not logged in, refreshing tokens on its own.
    pub async fn sdk_client(&self) -> Client {
        sdk_client(&self.base_url()).await
    }

    /// Registers `username` through the SDK (the dummy UIA stage) and logs its client in.
    pub async fn register_user(&self, username: &str) -> User {
        register_user(&self.base_url(), username).await
    }

    /// Logs an existing user in on a new SDK client (a new device).
    pub async fn login(&self, username: &str, password: &str) -> Client {
        login(&self.base_url(), username, password).await
    }
}

impl crate::SynapseServer {
    /// Registers `username` on Synapse through the SDK and logs its client in.
    pub async fn register_user(&self, username: &str) -> User {
        register_user(&self.base_url(), username).await
    }

    /// Logs an existing Synapse user in on a new SDK client (a new device).
    pub async fn login(&self, username: &str, password: &str) -> Client {
        login(&self.base_url(), username, password).await
    }
}

/// Registers `username` on the server at `base_url` (a proxy, say) and logs its client in.
pub async fn register_user_at(base_url: &str, username: &str) -> User {
    register_user(base_url, username).await
}

/// Logs an existing user in on a new SDK client of the server at `base_url`.
pub async fn login_at(base_url: &str, username: &str, password: &str) -> Client {
    login(base_url, username, password).await
}

async fn sdk_client(base_url: &str) -> Client {
    Client::builder()
        .homeserver_url(base_url)
        .handle_refresh_tokens()
        .build()
        .await
        .expect("build an SDK client")
}

async fn register_user(base_url: &str, username: &str) -> User {
    let password = format!("{username}-password-1");
    let client = sdk_client(base_url).await;
    let mut request = register::v3::Request::new();
    request.username = Some(username.to_owned());
    request.password = Some(password.clone());
    request.initial_device_display_name = Some(format!("{username}'s first device"));
    let challenge = client
        .matrix_auth()
        .register(request.clone())
        .await
        .expect_err("registration starts with UIA");
    let session = challenge
        .as_uiaa_response()
        .and_then(|info| info.session.clone())
        .expect("a UIA session");
    let mut dummy = uiaa::Dummy::new();
    dummy.session = Some(session);
    request.auth = Some(AuthData::Dummy(dummy));
    client
        .matrix_auth()
        .register(request)
        .await
        .expect("registration completes");
    assert!(client.is_active(), "the SDK is logged in after registering");
    User {
        client,
        username: username.to_owned(),
        password,
    }
}

async fn login(base_url: &str, username: &str, password: &str) -> Client {
    let client = sdk_client(base_url).await;
    client
        .matrix_auth()
        .login_username(username, password)
        .initial_device_display_name("second device")
        .send()
        .await
        .expect("login succeeds");
    client
}

impl User {
    /// The `m.login.password` stage for this user.
    pub fn password_auth(&self, session: Option<String>) -> AuthData {
        let identifier =
            uiaa::UserIdentifier::Matrix(uiaa::MatrixUserIdentifier::new(self.username.clone()));
        let mut password = uiaa::Password::new(identifier, self.password.clone());
        password.session = session;
        AuthData::Password(password)
    }

    /// Runs `action` the way a client does: first without auth, then with the password stage
    /// in the session the server opened.
    pub async fn with_password_uia<T, E, F, Fut>(&self, action: F) -> Result<T, E>
    where
        E: UiaError,
        F: Fn(Option<AuthData>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let challenge = match action(None).await {
            Ok(_) => panic!("the server must ask for authentication first"),
            Err(err) => err,
        };
        let info = challenge
            .uiaa()
            .unwrap_or_else(|| panic!("expected a UIA challenge, got {challenge:?}"));
        assert!(
            info.flows
                .iter()
                .any(|flow| flow.stages == vec![uiaa::AuthType::Password]),
            "the password flow is offered: {info:?}"
        );
        action(Some(self.password_auth(info.session.clone()))).await
    }
}
