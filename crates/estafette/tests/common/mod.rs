//! A server process started from the built binary, as an operator would run it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BINARY: &str = env!("CARGO_BIN_EXE_estafette");

pub use estafette::storage::sql::testing::free_port;

/// Where a test server keeps its data: a fresh PostgreSQL database when the test command
/// provides a server (`ESTAFETTE_TEST_POSTGRES`), else SQLite under `dir`'s data directory.
pub async fn test_database(dir: &Path) -> estafette::storage::DatabaseTarget {
    match estafette::storage::sql::testing::test_database(dir)
        .await
        .expect("a test database")
    {
        estafette::storage::DatabaseTarget::Sqlite(_) => {
            estafette::storage::DatabaseTarget::Sqlite(
                dir.join("estafette-data").join("estafette.db"),
            )
        }
        postgres => postgres,
    }
}

/// The flags that point `estafette serve` at `target`.
pub fn database_args(target: &estafette::storage::DatabaseTarget) -> Vec<String> {
    match target {
        estafette::storage::DatabaseTarget::Postgres(url) => {
            vec!["--database-url".to_owned(), url.clone()]
        }
        estafette::storage::DatabaseTarget::Sqlite(_) => Vec::new(),
    }
}

/// A read-only look into a server's database, on either backend.
pub async fn inspect(target: &estafette::storage::DatabaseTarget) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let url = match target {
        estafette::storage::DatabaseTarget::Postgres(url) => url.clone(),
        estafette::storage::DatabaseTarget::Sqlite(path) => {
            format!("sqlite://{}?mode=ro", path.display())
        }
    };
    sqlx::AnyPool::connect(&url).await.expect("the database")
}

/// A server process, killed if a test fails before stopping it.
pub struct ServerProcess {
    child: Option<Child>,
    pub base_url: String,
}

impl ServerProcess {
    pub async fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_with_env(dir, args, &[]).await
    }

    pub async fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(BINARY)
            .current_dir(dir)
            .envs(env.iter().copied())
            .arg("serve")
            .args(["--listen", &listen])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start estafette");
        let server = Self {
            child: Some(child),
            base_url: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if reqwest::get(format!("{}/_matrix/client/versions", server.base_url))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server did not answer within 20 s");
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    pub async fn register(&self, username: &str) -> Value {
        let body = json!({"username": username, "password": "a long password", "auth": {"type": "m.login.dummy"}});
        let (status, body) = self.post("/_matrix/client/v3/register", body).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Sends SIGTERM and returns what the process wrote.
    pub fn terminate(mut self) -> Output {
        let child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    }
}

impl ServerProcess {
    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A POST with an access token.
    pub async fn post_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        post_to(&self.base_url, token, path, body).await
    }
}

/// A POST with an access token to a server that may be killed meanwhile (status 0 then).
pub async fn post_to(base_url: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    request_to(reqwest::Method::POST, base_url, token, path, Some(body)).await
}

/// A GET with an access token to a server that may be killed meanwhile (status 0 then).
pub async fn get_from(base_url: &str, token: &str, path: &str) -> (u16, Value) {
    request_to(reqwest::Method::GET, base_url, token, path, None).await
}

/// A PUT with an access token to a server that may be killed meanwhile (status 0 then).
pub async fn put_to(base_url: &str, token: &str, path: &str, body: Value) -> (u16, Value) {
    request_to(reqwest::Method::PUT, base_url, token, path, Some(body)).await
}

/// A request with an access token (and a JSON body, if any) to a server that may be killed
/// meanwhile (status 0 then).
pub async fn request_to(
    method: reqwest::Method,
    base_url: &str,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base_url}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await;
    match response {
        Ok(response) => (
            response.status().as_u16(),
            response.json().await.unwrap_or(Value::Null),
        ),
        Err(_) => (0, Value::Null),
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
