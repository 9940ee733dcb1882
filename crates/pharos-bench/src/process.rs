//! Server processes: start pharos or Prometheus on a free loopback port, wait
//! until ready, read their CPU time and memory from `/proc`, stop them.
//!
//! CPU time is `utime + stime` of `/proc/<pid>/stat` (fields 14 and 15, in
//! clock ticks of `getconf CLK_TCK`, 100 on Linux); memory is `VmHWM` (peak
//! resident set) and `VmRSS` of `/proc/<pid>/status`. Both count the server
//! process only (all its threads), not the bench.
//!
//! A server's stdout and stderr go to `server.log` beside its data directory;
//! the tail is shown when it fails to start. A [`Server`] still running when
//! dropped is killed (SIGKILL) so that an error in the bench leaves no
//! process behind.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// Which server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pharos,
    Prometheus,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pharos => "pharos",
            Kind::Prometheus => "prometheus",
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound then released; the server binds it next).
pub fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(l.local_addr()?.port())
}

/// Clock ticks per second for `/proc/<pid>/stat` times (`getconf CLK_TCK`, else 100).
pub fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// `utime + stime` in clock ticks from the text of `/proc/<pid>/stat`.
pub fn parse_stat_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    // The command name (field 2) is in parentheses and may contain spaces or
    // parentheses itself: fields are counted after the last ')'.
    let close = stat.rfind(')').context("no ')' in /proc/<pid>/stat")?;
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let get = |i: usize, name: &str| -> anyhow::Result<u64> {
        fields
            .get(i)
            .with_context(|| format!("/proc/<pid>/stat has no {name} field"))?
            .parse::<u64>()
            .with_context(|| format!("/proc/<pid>/stat: {name} is not a number"))
    };
    Ok(get(11, "utime")? + get(12, "stime")?)
}

/// Resident memory from `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmHWM`: peak resident set size.
    pub peak_rss: u64,
    /// `VmRSS`: current resident set size.
    pub rss: u64,
}

/// Parses `VmHWM` and `VmRSS` (in kB) from the text of `/proc/<pid>/status`.
pub fn parse_status_memory(status: &str) -> anyhow::Result<Memory> {
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(':'))
            .with_context(|| format!("/proc/<pid>/status has no {name}"))?;
        let mut it = line[name.len() + 1..].split_whitespace();
        let n: u64 = it
            .next()
            .with_context(|| format!("{name}: no value"))?
            .parse()
            .with_context(|| format!("{name}: not a number"))?;
        let mult = match it.next() {
            Some("kB") | Some("KB") => 1024,
            Some("mB") | Some("MB") => 1024 * 1024,
            None | Some("B") => 1,
            Some(u) => bail!("{name}: unknown unit {u:?}"),
        };
        Ok(n * mult)
    };
    Ok(Memory {
        peak_rss: field("VmHWM")?,
        rss: field("VmRSS")?,
    })
}

/// A running server started by the bench.
pub struct Server {
    pub kind: Kind,
    child: Child,
    pub pid: u32,
    pub port: u16,
    /// Where the server keeps its data (pharos `--data-dir`, Prometheus `--storage.tsdb.path`).
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    /// The full command line.
    pub command: Vec<String>,
    exited: bool,
}

/// How a stop went.
#[derive(Debug, Clone)]
pub struct StopOutcome {
    /// Exited by itself within the timeout after SIGTERM.
    pub graceful: bool,
    pub status: String,
    pub took: Duration,
}

impl Server {
    /// Starts pharos: `<bin> serve --data-dir <dir>/data --http-addr 127.0.0.1:<port>`
    /// with every other listener off and no self-scrape, then `extra` arguments.
    pub fn start_pharos(bin: &Path, dir: &Path, extra: &[String]) -> anyhow::Result<Server> {
        let port = free_port()?;
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--http-addr")
            .arg(format!("127.0.0.1:{port}"));
        for l in [
            "otlp-grpc",
            "otlp-http",
            "zipkin",
            "jaeger-http",
            "jaeger-udp",
        ] {
            cmd.arg(format!("--{l}-addr")).arg("off");
        }
        cmd.arg("--no-self-scrape").args(extra);
        Server::spawn(Kind::Pharos, cmd, port, data_dir, dir)
    }

    /// Starts Prometheus with the remote write receiver, a fresh TSDB path and
    /// a configuration without scrape jobs.
    pub fn start_prometheus(bin: &Path, dir: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let config = dir.join("prometheus.yml");
        std::fs::write(&config, "# pharos-bench: remote write receiver only, no scrape jobs\nglobal:\n  scrape_interval: 15s\n")
            .with_context(|| format!("writing {}", config.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data_dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver");
        Server::spawn(Kind::Prometheus, cmd, port, data_dir, dir)
    }

    fn spawn(
        kind: Kind,
        mut cmd: Command,
        port: u16,
        data_dir: PathBuf,
        dir: &Path,
    ) -> anyhow::Result<Server> {
        let log_path = dir.join("server.log");
        let log =
            File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let log2 = log.try_clone()?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} ({:?})", kind.name(), cmd.get_program()))?;
        let pid = child.id();
        let command = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        Ok(Server {
            kind,
            child,
            pid,
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

    /// The remote write endpoint.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
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
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                bail!(
                    "{} exited during start-up ({status}); log {}:\n{}",
                    self.kind.name(),
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
                    "{} not ready after {timeout:?}; log {}:\n{}",
                    self.kind.name(),
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
        Ok(parse_stat_cpu_ticks(&stat)? as f64 / ticks_per_second.max(1) as f64)
    }

    /// Current and peak resident memory.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid);
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        parse_status_memory(&status)
    }

    /// True while the process has not exited.
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

    /// Sends SIGTERM and waits up to `timeout` for exit, then SIGKILL.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<StopOutcome> {
        let start = Instant::now();
        if !self.running() {
            return Ok(StopOutcome {
                graceful: false,
                status: "already exited".into(),
                took: Duration::ZERO,
            });
        }
        // SIGTERM by pid, through kill(1): std has only SIGKILL.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait()? {
                self.exited = true;
                return Ok(StopOutcome {
                    graceful: true,
                    status: status.to_string(),
                    took: start.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child.kill()?;
        let status = self.child.wait()?;
        self.exited = true;
        Ok(StopOutcome {
            graceful: false,
            status: format!("killed after {timeout:?}: {status}"),
            took: start.elapsed(),
        })
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_ticks() {
        let stat = "12345 (prometheus) S 1 12345 12345 0 -1 4194560 5000 0 0 0 731 129 0 0 20 0 12 0 100 2000000 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat_cpu_ticks(stat).ok(), Some(860));
        // A command name with spaces and parentheses.
        let stat = "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 1 1 1";
        assert_eq!(parse_stat_cpu_ticks(stat).ok(), Some(11));
        assert!(parse_stat_cpu_ticks("garbage").is_err());
        assert!(parse_stat_cpu_ticks("1 (x) R 1 2").is_err());
        assert!(parse_stat_cpu_ticks("1 (x) R 1 7 7 0 -1 0 0 0 0 0 zz 6").is_err());
    }

    #[test]
    fn status_memory() {
        let status = "Name:\tprometheus\nVmPeak:\t 2000000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\nThreads:\t12\n";
        assert_eq!(
            parse_status_memory(status).ok(),
            Some(Memory {
                peak_rss: 123456 * 1024,
                rss: 100000 * 1024
            })
        );
        assert!(parse_status_memory("Name:\tx\nVmRSS:\t1 kB\n").is_err());
        assert!(parse_status_memory("VmHWM:\tabc kB\nVmRSS:\t1 kB\n").is_err());
    }

    #[test]
    fn own_process_readings() {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("linux");
        assert!(parse_stat_cpu_ticks(&stat).is_ok());
        let status = std::fs::read_to_string("/proc/self/status").expect("linux");
        let m = parse_status_memory(&status).expect("parses");
        assert!(m.peak_rss >= m.rss && m.rss > 0);
        assert!(clock_ticks() > 0);
        assert!(free_port().expect("port") > 0);
    }
}
