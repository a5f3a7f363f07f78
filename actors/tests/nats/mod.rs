//! A real `nats-server` with JetStream for the cluster tests (Debian's package, which
//! `.ci/run` installs; `NATS_SERVER` names another binary).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, its store in a folder of its own; killed when dropped.
pub struct Nats {
    child: Child,
    /// Where clients connect.
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| {
        let packaged = "/usr/sbin/nats-server";
        if std::path::Path::new(packaged).exists() { packaged } else { "nats-server" }.to_owned()
    });
    let child = Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{binary} did not start ({e}): install Debian's nats-server (.ci/run does)")
        });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Starts a server on a free port.
pub fn nats_server() -> Nats {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let dir = tempfile::tempdir().expect("tempdir");
    let child = spawn(port, dir.path());
    Nats { child, url: format!("nats://127.0.0.1:{port}"), port, dir }
}

impl Nats {
    /// Kills the server (`kill -9`) and starts it again on the same port and store.
    #[allow(dead_code)] // used by some of the test binaries that include this module
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.port, self.dir.path());
    }
}

impl Nats {
    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered.
    #[allow(dead_code)] // used by some of the test binaries that include this module
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    #[allow(dead_code)] // used by some of the test binaries that include this module
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }
}
