//! What the binary's end-to-end tests share: running `tenure`, and a `tenure serve` child that
//! is stopped gracefully on request and killed when dropped, so a failing test leaves no
//! server behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

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

/// Simulates a company of `accounts` over `months` months ending today (seed `seed`) into
/// `dir`/sim and imports its records into the data directory `dir`/d.
pub fn simulate_and_import(dir: &Path, accounts: u32, months: u32, seed: u64) {
    let start =
        (chrono::Utc::now().date_naive() - chrono::Days::new(u64::from(months) * 30)).to_string();
    let (accounts, months, seed) = (accounts.to_string(), months.to_string(), seed.to_string());
    let out = tenure(
        dir,
        &[
            "simulate",
            "--accounts",
            &accounts,
            "--months",
            &months,
            "--seed",
            &seed,
            "--start",
            &start,
            "--out",
            "sim",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = tenure(dir, &["import", "--data-dir", "d", "sim"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Sends the simulator's events in `dir`/sim/events.jsonl to a server through `/v1/import`,
/// with `send`'s default requests in flight. The simulator writes each account's history in
/// turn; `send` keeps each account's messages in one lane, in order, so the live engine and a
/// replay agree on every journey date (the metrics test checks it).
pub fn send_simulated_events(dir: &Path, addr: &str, write_key: &str) {
    let out = tenure(
        dir,
        &[
            "send",
            "--url",
            &format!("http://{addr}"),
            "--write-key",
            write_key,
            "--import",
            "sim/events.jsonl",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Runs `tenure ARGS` in `dir` with `TENURE_PASSWORD` set (how `tenure users` takes a password).
pub fn with_password(dir: &Path, password: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenure"))
        .args(args)
        .current_dir(dir)
        .env_remove("TENURE_DATA_DIR")
        .env_remove("TENURE_DATABASE_URL")
        .env("TENURE_PASSWORD", password)
        .output()
        .expect("run tenure")
}

/// The CSM who owns the most accounts of the company simulated into `dir`/sim, one account
/// they own and one they do not.
pub fn a_csm(dir: &Path) -> (String, String, String) {
    let mut reader = csv::Reader::from_path(dir.join("sim/accounts.csv")).unwrap();
    let h = reader.headers().unwrap().clone();
    let (id, owner) = (
        h.iter().position(|x| x == "account_id").unwrap(),
        h.iter().position(|x| x == "owner").unwrap(),
    );
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id].to_owned(), r[owner].to_owned())
        })
        .collect();
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for (_, o) in &rows {
        if o.starts_with("csm-") {
            *counts.entry(o).or_default() += 1;
        }
    }
    let csm = counts.iter().max_by_key(|c| *c.1).unwrap().0.to_string();
    let mine = rows.iter().find(|r| r.1 == csm).unwrap().0.clone();
    let other = rows.iter().find(|r| r.1 != csm).unwrap().0.clone();
    (csm, mine, other)
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

/// One HTTP/1.1 request with a body of `content_type`; the status and the body as text.
pub fn request(
    method: &str,
    addr: &str,
    path: &str,
    content_type: &str,
    auth: &str,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: {content_type}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    s.read_to_end(&mut response).unwrap();
    let response = String::from_utf8(response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (_, rest) = response.split_once("\r\n\r\n").unwrap();
    // The server answers with Content-Length (no chunking).
    (status, rest.to_owned())
}

/// One HTTP/1.1 request with a JSON body; the status and the JSON body.
pub fn http(method: &str, addr: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    let (status, text) = request(method, addr, path, "application/json", auth, body);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn get(addr: &str, path: &str, token: &str) -> (u16, Value) {
    http("GET", addr, path, &format!("Bearer {token}"), "")
}
