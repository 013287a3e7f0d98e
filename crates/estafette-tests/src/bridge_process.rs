//! Real application services, run as child processes on a loopback port: an echo bridge on
//! mautrix-python (`python/mautrix_echo_bridge.py`, PyPI `mautrix`, installed by
//! `scripts/synapse-venv`) or on bot-sdk (`js/bot_sdk_bridge.mjs`, npm
//! `@vector-im/matrix-bot-sdk`, installed by `scripts/js-sdk`). Each writes what it sees as
//! JSON lines, which the test reads back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Which framework the bridge is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeKind {
    Mautrix,
    BotSdk,
}

impl BridgeKind {
    fn id(self) -> &'static str {
        match self {
            Self::Mautrix => "mautrix-echo",
            Self::BotSdk => "botsdk-echo",
        }
    }

    /// Its users' localpart prefix and its bot, so that both can serve one server.
    fn prefix(self) -> &'static str {
        match self {
            Self::Mautrix => "_test_",
            Self::BotSdk => "_node_",
        }
    }

    fn bot(self) -> &'static str {
        match self {
            Self::Mautrix => "echobot",
            Self::BotSdk => "nodebot",
        }
    }

    /// The ephemeral flag its library reads (bot-sdk only the unstable key).
    fn ephemeral_flag(self) -> &'static str {
        match self {
            Self::Mautrix => "receive_ephemeral",
            Self::BotSdk => "de.sorunome.msc2409.push_ephemeral",
        }
    }
}

pub struct BridgeProcess {
    kind: BridgeKind,
    child: Child,
    dir: tempfile::TempDir,
    /// Its registration file, for the server's configuration.
    pub registration: PathBuf,
    pub as_token: String,
    hs_token: String,
    port: u16,
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl BridgeProcess {
    /// Writes the registration (its users' namespace, its bot, ephemeral events); the
    /// bridge itself starts with [`Self::run`], once the server is up.
    pub fn prepare(kind: BridgeKind) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let port = estafette::storage::sql::testing::free_port();
        let suffix = format!("{:x}", std::process::id() as u64 * 7919 + u64::from(port));
        let id = kind.id();
        let (as_token, hs_token) = (format!("as_{id}_{suffix}"), format!("hs_{id}_{suffix}"));
        let registration = dir.path().join(format!("{id}.yaml"));
        std::fs::write(
            &registration,
            format!(
                "id: {id}\nurl: http://127.0.0.1:{port}\nas_token: {as_token}\n\
                 hs_token: {hs_token}\nsender_localpart: {bot}\nrate_limited: false\n\
                 {flag}: true\nnamespaces:\n  users:\n    - regex: '@{prefix}.*'\n      \
                 exclusive: true\n",
                bot = kind.bot(),
                flag = kind.ephemeral_flag(),
                prefix = kind.prefix(),
            ),
        )
        .expect("write the registration");
        // A spawn that fails below still needs a child to drop: start a no-op.
        let child = Command::new("true").spawn().expect("spawn true");
        Self {
            kind,
            child,
            dir,
            registration,
            as_token,
            hs_token,
            port,
        }
    }

    /// The ghost the bridge answers as.
    pub fn ghost(&self, domain: &str) -> String {
        format!("@{}echo:{domain}", self.kind.prefix())
    }

    /// Starts the bridge against `homeserver` and waits until it has registered (and, for
    /// mautrix, pinged itself through the homeserver) and is listening.
    pub async fn run(&mut self, homeserver: &str, domain: &str, ts: u64) {
        let config = json!({
            "homeserver": homeserver, "domain": domain, "as_token": self.as_token,
            "hs_token": self.hs_token, "bot": self.kind.bot(), "id": self.kind.id(),
            "port": self.port, "ts": ts, "out": self.dir.path().join("seen.jsonl"),
            "users_regex": format!("@{}.*", self.kind.prefix()),
            "ghost": format!("{}echo", self.kind.prefix()),
        });
        let log = std::fs::File::create(self.dir.path().join("bridge.log")).expect("log file");
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut command = match self.kind {
            BridgeKind::Mautrix => {
                let python = std::env::var("ESTAFETTE_SYNAPSE_PYTHON").expect(
                    "ESTAFETTE_SYNAPSE_PYTHON must name the Python that has mautrix: run \
                     ./scripts/test, or scripts/synapse-venv",
                );
                let mut command = Command::new(python);
                command
                    .arg(manifest.join("python/mautrix_echo_bridge.py"))
                    .arg(config.to_string());
                command
            }
            BridgeKind::BotSdk => {
                let sdk = std::env::var("ESTAFETTE_JS_SDK").expect(
                    "ESTAFETTE_JS_SDK must name matrix-js-sdk's entry point (bot-sdk is installed \
                     beside it): run ./scripts/test, or scripts/js-sdk",
                );
                let mut command = Command::new("node");
                command
                    .arg(manifest.join("js/bot_sdk_bridge.mjs"))
                    .env("MATRIX_JS_SDK", sdk)
                    .env("INPUT", config.to_string());
                command
            }
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = command
            .current_dir(self.dir.path())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("the bridge starts");
        self.wait_for("its start-up", |line| line["kind"] == "ready")
            .await;
    }

    /// Everything the bridge recorded, in order.
    pub fn seen(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("seen.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Waits up to twenty seconds for a recorded line that `matches`.
    pub async fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..400 {
            if let Some(line) = self.seen().into_iter().find(|line| matches(line)) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("bridge.log")).unwrap_or_default();
        panic!(
            "the {:?} bridge never saw {what}; it saw {:#?}\nits log:\n{log}",
            self.kind,
            self.seen()
        );
    }
}
