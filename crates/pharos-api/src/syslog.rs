//! The syslog listener: RFC 5424 and RFC 3164 messages over TCP (octet
//! counting or newline framing, RFC 6587) and UDP (one message per
//! datagram), into the log store (through the ingest pipeline when one is
//! configured).
//!
//! A TCP connection's frames are parsed as they arrive and stored in batches
//! (after each read). A message that does not parse is stored anyway, as a
//! line of its own with the receive time and labels `app="syslog"`,
//! `level="unknown"` plus `parse_error` metadata, so nothing sent is dropped
//! silently; framing errors (oversized frames) are logged with the byte
//! offset. Syslog has no acknowledgements: what the store refuses is counted
//! in the log only.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use pharos_ingest::syslog::{self, Framer, ParseContext};
use pharos_model::{Labels, LogEntry, LogSink, LogStream};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

fn parse_one(frame: &[u8], peer: IpAddr) -> (Labels, LogEntry) {
    let now = crate::loki::now_ns();
    let ctx = ParseContext::new(now).with_peer(peer);
    match syslog::parse(frame, &ctx) {
        Ok(m) => m.to_entry(),
        Err(e) => {
            let mut entry =
                LogEntry::new(now, String::from_utf8_lossy(frame).trim_end().to_string());
            entry.metadata.push(("parse_error".into(), e.to_string()));
            let labels = Labels::from_pairs(&[
                ("app", "syslog"),
                ("host", &peer.to_string()),
                ("level", "unknown"),
            ]);
            (labels, entry)
        }
    }
}

fn group(items: Vec<(Labels, LogEntry)>) -> Vec<LogStream> {
    let mut out: Vec<LogStream> = Vec::new();
    for (labels, e) in items {
        match out.iter_mut().find(|s| s.labels == labels) {
            Some(s) => s.entries.push(e),
            None => out.push(LogStream {
                labels,
                entries: vec![e],
            }),
        }
    }
    out
}

async fn store_batch(store: &Arc<dyn LogSink>, items: Vec<(Labels, LogEntry)>) {
    if items.is_empty() {
        return;
    }
    let st = store.clone();
    let streams = group(items);
    match tokio::task::spawn_blocking(move || st.push(streams)).await {
        Ok(Ok(out)) if !out.rejected.is_empty() => {
            let first = out.rejected.first().map(crate::loki::rejection_line);
            tracing::warn!(refused = out.rejected.iter().map(|r| r.entries).sum::<usize>(), first = ?first, "syslog entries refused by the log store");
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "syslog: storing failed"),
        Err(e) => tracing::error!(error = %e, "syslog: storing task failed"),
    }
}

async fn connection(mut sock: tokio::net::TcpStream, peer: SocketAddr, store: Arc<dyn LogSink>) {
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match sock.read(&mut buf).await {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "syslog connection read failed");
                0
            }
        };
        let mut items = Vec::new();
        if n > 0 {
            framer.push(&buf[..n]);
            while let Some(f) = framer.next_frame() {
                match f {
                    Ok(frame) => items.push(parse_one(frame.data, peer.ip())),
                    Err(e) => tracing::warn!(%peer, error = %e, "syslog framing error"),
                }
            }
        } else {
            while let Some(f) = framer.finish() {
                match f {
                    Ok(frame) => items.push(parse_one(frame.data, peer.ip())),
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "syslog framing error at end of stream")
                    }
                }
            }
        }
        store_batch(&store, items).await;
        if n == 0 {
            return;
        }
    }
}

/// Resolves when `stop` turns true (the watch guard does not outlive it, so
/// the caller's future stays `Send`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

/// Accepts syslog TCP connections until `stop` turns true.
pub async fn serve_tcp(l: TcpListener, store: Arc<dyn LogSink>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = l.accept() => match r {
                Ok((sock, peer)) => { tokio::spawn(connection(sock, peer, store.clone())); }
                Err(e) => tracing::warn!(error = %e, "syslog accept failed"),
            },
            _ = stopped(&mut stop) => return,
        }
    }
}

/// Receives syslog datagrams until `stop` turns true.
pub async fn serve_udp(sock: UdpSocket, store: Arc<dyn LogSink>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok((n, peer)) => {
                    let items = vec![parse_one(&buf[..n], peer.ip())];
                    store_batch(&store, items).await;
                }
                Err(e) => tracing::warn!(error = %e, "syslog receive failed"),
            },
            _ = stopped(&mut stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparsable_messages_are_kept_with_the_error() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let (labels, e) = parse_one(b"", peer);
        assert_eq!(labels.get("app"), Some("syslog"));
        assert_eq!(labels.get("host"), Some("10.0.0.1"));
        assert!(e.metadata_value("parse_error").is_some());
        let (labels, ok) = parse_one(
            b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - 'su root' failed",
            peer,
        );
        assert_eq!(ok.line, "'su root' failed");
        assert_eq!(labels.get("host"), Some("mymachine"));
        assert_eq!(ok.ts, 1_065_910_455_003_000_000);
    }

    #[test]
    fn grouping_keeps_arrival_order_per_stream() {
        let a = Labels::from_pairs(&[("app", "a")]);
        let b = Labels::from_pairs(&[("app", "b")]);
        let g = group(vec![
            (a.clone(), LogEntry::new(1, "1")),
            (b.clone(), LogEntry::new(2, "2")),
            (a.clone(), LogEntry::new(3, "3")),
        ]);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].entries.len(), 2);
    }
}
