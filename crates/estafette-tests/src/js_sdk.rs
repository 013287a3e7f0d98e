//! matrix-js-sdk (Element Web's client library) as a second real client: a test runs one of
//! the scripts in `crates/estafette-tests/js` with Node.js, gives it a JSON input and reads the
//! JSON line it prints. `scripts/js-sdk` installs the pinned SDK and `scripts/test` exports
//! `ESTAFETTE_JS_SDK`, the path of its entry point.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;

/// `node js/<script>.mjs` with the SDK's path and `input` in its environment.
fn node(script: &str, input: &Value) -> tokio::process::Command {
    let sdk = std::env::var("ESTAFETTE_JS_SDK").expect(
        "ESTAFETTE_JS_SDK must name matrix-js-sdk's entry point: run ./scripts/test, or scripts/js-sdk",
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("js")
        .join(format!("{script}.mjs"));
    let mut command = tokio::process::Command::new("node");
    command
        .arg(&path)
        .env("MATRIX_JS_SDK", sdk)
        .env("INPUT", input.to_string())
        .stdin(Stdio::null());
    command
}

/// Runs `js/<script>.mjs` with `input` and returns the JSON object it printed last.
pub async fn run_js_sdk(script: &str, input: Value) -> Value {
    let output = node(script, &input).output().await.expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script}.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    // The SDK logs to the console too: the result is the last line that is a JSON object.
    stdout
        .lines()
        .rev()
        .filter(|line| line.starts_with('{'))
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("{script}.mjs printed no JSON result:\n{stdout}\n{stderr}"))
}

/// A process running one of the scripts until dropped (a server a test talks to).
pub struct JsProcess {
    _child: tokio::process::Child,
    /// The JSON line the script printed once ready.
    pub ready: Value,
}

/// Starts `js/<script>.mjs` with `input`, and waits for it to print its first JSON line.
pub async fn start_js(script: &str, input: Value) -> JsProcess {
    use tokio::io::AsyncBufReadExt;
    let mut child = node(script, &input)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                return value;
            }
        }
        panic!("{script}.mjs ended before it was ready");
    })
    .await
    .unwrap_or_else(|_| panic!("{script}.mjs was not ready in 30 s"));
    // Keep reading, so that the script never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    JsProcess {
        _child: child,
        ready,
    }
}
