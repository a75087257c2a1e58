//! What the binary's end-to-end tests share: running `tenure`, and a `tenure serve` child that
//! is stopped gracefully on request and killed when dropped, so a failing test leaves no
//! server behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `tenure ARGS` in `dir`, without the environment's data-directory overrides.
pub fn tenure(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .current_dir(dir)
        .env_remove("TENURE_DATA_DIR")
        .env_remove("TENURE_DATABASE_URL")
        .output()
        .expect("run tenure")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A running `tenure serve`.
pub struct Server(Child);

impl Server {
    /// Starts `tenure serve --data-dir DATA_DIR` in `dir` on a free port; returns it and its
    /// address (`127.0.0.1:PORT`).
    pub fn start(dir: &Path, data_dir: &str) -> (Server, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tenure"))
            .args(["serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("TENURE_DATA_DIR")
            .env_remove("TENURE_DATABASE_URL")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start tenure serve");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout"))
            .read_line(&mut first)
            .expect("read the server's first line");
        let server = Server(child);
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_owned();
        (server, addr)
    }

    /// A graceful stop (SIGTERM), as an operator would; the server must exit cleanly.
    pub fn stop(&mut self) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.0.wait().unwrap();
        assert!(
            status.success(),
            "the server did not stop cleanly: {status}"
        );
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
