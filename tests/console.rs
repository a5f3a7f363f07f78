//! The console in a real headless Chromium (`tests/interop/console_browser.py`, Playwright
//! driving Debian's `chromium`): a wrong token is refused, the bundled bot shows, an injected
//! event appears within a second, and a message sent from the page reaches a mirai ws client
//! as the account's own message. `CONSOLE_SCREENSHOT=path` keeps the screenshot (the README's).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::Value;

const TOKEN: &str = "console-secret";

#[actix_web::test]
async fn the_console_signs_in_shows_live_events_and_sends() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/interop-console/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/run (it creates the venvs with tests/interop/setup.sh)",
        python.display()
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (.ci/run does), or set CHROMIUM"
    );
    let gw = start_gateway_with(&format!("token: {TOKEN}, "), WORLD, &mirai_http_ws("")).await;
    let mut mirai = mirai_ws_client(&gw).await;
    let screenshot = std::env::var("CONSOLE_SCREENSHOT").map(PathBuf::from).unwrap_or_else(|_| {
        std::env::temp_dir().join(format!("botgate-console-{}.png", std::process::id()))
    });
    let base = format!("http://{}", gw.server_addr);
    let script = root.join("tests/interop/console_browser.py");
    let shot = screenshot.clone();
    let run = actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(base)
            .arg(TOKEN)
            .arg(shot)
            .env("CHROMIUM", chromium)
            .output()
            .expect("run the browser script")
    });
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the browser script took over two minutes")
        .expect("the browser script's thread");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser checks failed:\n{stdout}\n{stderr}");
    let measured: Value = serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("JSON");
    println!("console: {measured}");
    assert!(measured["eventLatencySeconds"].as_f64().is_some_and(|s| s < 1.0), "{measured}");
    assert!(std::fs::metadata(&screenshot).is_ok_and(|m| m.len() > 10_000), "no screenshot");
    // The mirai client saw the page's message as the account's own.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let frame = mirai.recv_frame().await["data"].clone();
        if frame["type"] == "GroupSyncMessage" {
            let chain = frame["messageChain"].to_string();
            assert!(chain.contains("from the browser") && chain.contains("20001"), "{frame}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no GroupSyncMessage");
    }
    if std::env::var_os("CONSOLE_SCREENSHOT").is_none() {
        let _ = std::fs::remove_file(&screenshot);
    }
}
