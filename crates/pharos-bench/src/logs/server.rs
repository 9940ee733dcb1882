//! The pharos process of the logs scenario: `serve` with only the HTTP
//! listener, the bench's configuration file and the log limit flags, on a free
//! loopback port; its CPU time and memory from `/proc` (parsed by
//! [`crate::process`]).
//!
//! [`crate::process::Server`] starts pharos with a fixed set of flags; this
//! one adds flags, and leaves out those `pharos serve --help` does not list
//! (reported as missing, so a binary from before a flag existed still runs).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process::{self, Memory};

/// A running pharos started by the bench; killed when dropped while running.
pub struct Pharos {
    child: Child,
    pub pid: u32,
    pub port: u16,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// The full command line.
    pub command: Vec<String>,
    exited: bool,
}

/// Flags of `pharos serve --help` among `wanted` (`--name`), and those missing.
pub fn supported_flags(bin: &Path, wanted: &[&str]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let out = Command::new(bin)
        .args(["serve", "--help"])
        .output()
        .with_context(|| format!("running {} serve --help", bin.display()))?;
    let help =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let has = |f: &str| {
        help.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == ']')
            .any(|w| w == f)
    };
    let (ok, missing): (Vec<&str>, Vec<&str>) = wanted.iter().partition(|f| has(f));
    Ok((
        ok.into_iter().map(String::from).collect(),
        missing.into_iter().map(String::from).collect(),
    ))
}

/// First line of `<bin> --version`.
pub fn version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

impl Pharos {
    /// `<bin> serve --data-dir <dir>/data --http-addr 127.0.0.1:<port>` with
    /// the other listeners off, then `extra` (flag, value) pairs (`None`: a
    /// switch).
    pub fn start(
        bin: &Path,
        dir: &Path,
        extra: &[(String, Option<String>)],
    ) -> anyhow::Result<Pharos> {
        let port = process::free_port()?;
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--http-addr".into(),
            format!("127.0.0.1:{port}"),
        ];
        for l in [
            "otlp-grpc",
            "otlp-http",
            "zipkin",
            "jaeger-http",
            "jaeger-udp",
        ] {
            args.push(format!("--{l}-addr"));
            args.push("off".into());
        }
        for (f, v) in extra {
            args.push(f.clone());
            if let Some(v) = v {
                args.push(v.clone());
            }
        }
        let log_path = dir.join("server.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log2 = log.try_clone()?;
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut command = vec![bin.display().to_string()];
        command.extend(args);
        Ok(Pharos {
            pid: child.id(),
            child,
            port,
            data_dir,
            log_path,
            command,
            exited: false,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Polls `GET /-/ready` until 200; fails early if the process exits.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let url = format!("{}/-/ready", self.base_url());
        loop {
            if !self.running() {
                bail!(
                    "pharos exited during start-up; log {}:\n{}",
                    self.log_path.display(),
                    self.log_tail(20)
                );
            }
            if let Ok(r) = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(start.elapsed());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "pharos not ready after {timeout:?}; log {}:\n{}",
                    self.log_path.display(),
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// CPU time (user + system) used so far, in seconds.
    pub fn cpu_seconds(&self, ticks_per_second: u64) -> anyhow::Result<f64> {
        let path = format!("/proc/{}/stat", self.pid);
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Ok(process::parse_stat_cpu_ticks(&stat)? as f64 / ticks_per_second.max(1) as f64)
    }

    /// Current and peak resident memory.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        process::parse_status_memory(&status)
    }

    pub fn running(&mut self) -> bool {
        if self.exited {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(_)) => {
                self.exited = true;
                false
            }
            Ok(None) => true,
            Err(_) => false,
        }
    }

    /// SIGTERM, then SIGKILL after `timeout`; true when it exited by itself.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        if !self.running() {
            return Ok(false);
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.child.try_wait()?.is_some() {
                self.exited = true;
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child.kill()?;
        self.child.wait()?;
        self.exited = true;
        Ok(false)
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Pharos {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Bytes under `dir`, recursively: `(apparent, allocated)` where apparent is
/// the sum of file lengths and allocated the sum of `st_blocks × 512`.
/// Missing directories count 0; files that vanish while walking are skipped.
pub fn dir_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0u64, 0u64);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total.0 += md.len();
                total.1 += md.blocks() * 512;
            }
        }
    }
    total
}

/// [`dir_bytes`] of each entry directly under `dir` (files grouped as `.`), sorted by name.
pub fn dir_breakdown(dir: &Path) -> Vec<(String, u64)> {
    let mut out: std::collections::BTreeMap<String, u64> = Default::default();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                out.insert(
                    e.file_name().to_string_lossy().to_string(),
                    dir_bytes(&e.path()).0,
                );
            } else if md.is_file() {
                *out.entry(".".into()).or_default() += md.len();
            }
        }
    }
    out.into_iter().collect()
}

/// Free bytes of the file system holding `dir` (`df -B1 --output=avail`).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_a_tree() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("a/b")).expect("mkdir");
        std::fs::write(d.path().join("a/b/x"), [0u8; 1000]).expect("write");
        std::fs::write(d.path().join("a/y"), [0u8; 24]).expect("write");
        std::fs::write(d.path().join("z"), [0u8; 3]).expect("write");
        assert_eq!(dir_bytes(d.path()).0, 1027);
        assert!(dir_bytes(d.path()).1 >= 1027);
        assert_eq!(dir_bytes(&d.path().join("missing")), (0, 0));
        assert_eq!(
            dir_breakdown(d.path()),
            vec![(".".to_string(), 3), ("a".to_string(), 1024)]
        );
        assert!(free_bytes(d.path()).is_some_and(|b| b > 0));
    }
}
