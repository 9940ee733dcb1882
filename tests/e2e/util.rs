//! Helpers: free ports, starting and stopping the binary, a tiny HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pharos"))
}

pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    #[allow(dead_code)]
    pub data: PathBuf,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.with_extension("log"))
            .unwrap();
        let child = Command::new(bin())
            .args(["serve", "--data-dir"])
            .arg(data)
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .args([
                "--otlp-grpc-addr",
                "off",
                "--otlp-http-addr",
                "off",
                "--no-self-scrape",
            ])
            .args([
                "--zipkin-addr",
                "off",
                "--jaeger-http-addr",
                "off",
                "--jaeger-udp-addr",
                "off",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let s = Server {
            child: Some(child),
            port,
            data: data.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok((200, _)) = http(port, "GET", "/-/ready", &[], &[]) {
                return s;
            }
            assert!(Instant::now() < deadline, "pharos did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn stop(&mut self) -> i32 {
        let c = self.child.take().unwrap();
        let pid = c.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let out = c.wait_with_output().unwrap();
        out.status.code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad response"))?;
    let body_start = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(resp.len());
    Ok((status, resp[body_start..].to_vec()))
}

/// `pharos tsdb dump` output lines.
pub fn dump(data: &Path, matchers: &[&str]) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(["tsdb", "dump", "--data-dir"]).arg(data);
    for m in matchers {
        cmd.args(["--match", m]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
