//! A small blocking HTTP/1.1 client: the query bench's timing instrument.
//!
//! A query's latency is the time from sending the request to having the
//! whole answer. Measured through an async client (reqwest on a tokio
//! runtime), each request also pays the client's own wake-ups (its I/O
//! driver's `epoll_wait`, task polls), about 0.1–0.2 ms on this machine, the
//! same for both servers: on a sub-millisecond answer that moves the ratio
//! between them towards 1. This client writes the request with one `write`
//! and blocks in `read` until the answer is complete, on one keep-alive
//! connection per server, so what it measures is the server's round trip.
//!
//! It speaks just what the bench needs: `GET` with a query string, answers
//! framed by `Content-Length`, `Transfer-Encoding: chunked` or the end of
//! the connection, `Connection: close`, and one reconnect when a kept
//! connection turns out to be closed before any byte of the answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// One keep-alive connection to one server.
pub struct Conn {
    /// `host:port`.
    authority: String,
    timeout: Duration,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// From the first byte written to the last byte of the body read.
    pub took: Duration,
}

impl Conn {
    /// `base` is `http://host:port` (no path, no TLS).
    pub fn new(base: &str, timeout: Duration) -> anyhow::Result<Conn> {
        let authority = base
            .strip_prefix("http://")
            .with_context(|| format!("{base}: only http:// URLs are supported"))?
            .trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            bail!("{base}: expected http://host:port");
        }
        Ok(Conn {
            authority: authority.to_string(),
            timeout,
            stream: None,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// `GET path?params` and waits for the whole answer.
    pub fn get(&mut self, path: &str, params: &[(&str, String)]) -> anyhow::Result<Answer> {
        let req = request(&self.authority, path, params);
        let reused = self.stream.is_some();
        match self.round_trip(&req) {
            Ok(a) => Ok(a),
            // A kept connection the server closed while idle: once more on a
            // new one.
            Err(RoundTrip::BeforeAnswer(_)) if reused => {
                self.stream = None;
                self.round_trip(&req).map_err(RoundTrip::into_error)
            }
            Err(e) => Err(e.into_error()),
        }
    }

    fn connect(&mut self) -> anyhow::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.authority)
                .with_context(|| format!("connecting to {}", self.authority))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            s.set_write_timeout(Some(self.timeout))?;
            self.stream = Some(s);
        }
        self.stream.as_mut().context("no connection")
    }

    fn round_trip(&mut self, req: &[u8]) -> Result<Answer, RoundTrip> {
        let t0 = Instant::now();
        let stream = self.connect().map_err(RoundTrip::Failed)?;
        stream
            .write_all(req)
            .map_err(|e| RoundTrip::BeforeAnswer(anyhow::Error::new(e).context("sending")))?;
        self.buf.clear();
        let mut framing = None;
        let mut chunks = Dechunker::default();
        loop {
            if framing.is_none() {
                framing = parse_head(&self.buf).map_err(RoundTrip::Failed)?;
            }
            if let Some(h) = &framing {
                let rest = &self.buf[h.head_len..];
                let done = match h.framing {
                    Framing::Length(n) => rest.len() >= n,
                    Framing::Chunked => chunks.feed(rest).map_err(RoundTrip::Failed)?,
                    Framing::UntilClose => false,
                };
                if done {
                    // The clock stops before the body is copied out.
                    let took = t0.elapsed();
                    let body = match h.framing {
                        Framing::Length(n) => rest[..n].to_vec(),
                        _ => chunks.out,
                    };
                    if h.close {
                        self.stream = None;
                    }
                    return Ok(Answer {
                        status: h.status,
                        body,
                        took,
                    });
                }
            }
            let stream = self.stream.as_mut().ok_or_else(|| {
                RoundTrip::Failed(anyhow::anyhow!("connection closed while reading"))
            })?;
            let start = self.buf.len();
            self.buf.resize(start + 64 * 1024, 0);
            let n = stream.read(&mut self.buf[start..]);
            self.buf.truncate(start + *n.as_ref().unwrap_or(&0));
            match n {
                Ok(0) => {
                    self.stream = None;
                    match &framing {
                        // An answer that runs to the end of the connection.
                        Some(h) if h.framing == Framing::UntilClose => {
                            let body = self.buf[h.head_len..].to_vec();
                            return Ok(Answer {
                                status: h.status,
                                body,
                                took: t0.elapsed(),
                            });
                        }
                        Some(_) => {
                            return Err(RoundTrip::Failed(anyhow::anyhow!(
                                "connection closed after {} bytes, before the end of the answer",
                                self.buf.len()
                            )))
                        }
                        None if self.buf.is_empty() => {
                            return Err(RoundTrip::BeforeAnswer(anyhow::anyhow!(
                                "connection closed before the answer"
                            )))
                        }
                        None => {
                            return Err(RoundTrip::Failed(anyhow::anyhow!(
                                "connection closed inside the answer's head"
                            )))
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    self.stream = None;
                    let e = anyhow::Error::new(e).context("reading the answer");
                    return Err(if self.buf.is_empty() && framing.is_none() {
                        RoundTrip::BeforeAnswer(e)
                    } else {
                        RoundTrip::Failed(e)
                    });
                }
            }
        }
    }
}

/// Why a round trip failed: before any byte of the answer (worth one retry
/// on a new connection) or later.
enum RoundTrip {
    BeforeAnswer(anyhow::Error),
    Failed(anyhow::Error),
}

impl RoundTrip {
    fn into_error(self) -> anyhow::Error {
        match self {
            RoundTrip::BeforeAnswer(e) | RoundTrip::Failed(e) => e,
        }
    }
}

/// The request's bytes: `GET` with the parameters percent-encoded.
fn request(authority: &str, path: &str, params: &[(&str, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { b'?' } else { b'&' });
        percent_encode(k.as_bytes(), &mut out);
        out.push(b'=');
        percent_encode(v.as_bytes(), &mut out);
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\nAccept: application/json\r\nUser-Agent: pharos-bench\r\n\r\n");
    out
}

/// Every byte but the unreserved ones (RFC 3986) as `%XX`.
fn percent_encode(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// An answer's status line and headers, as far as framing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes up to and including the blank line.
    head_len: usize,
    framing: Framing,
    close: bool,
}

/// The head, once `buf` holds all of it.
fn parse_head(buf: &[u8]) -> anyhow::Result<Option<Head>> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            bail!("answer head longer than 64 KiB");
        }
        return Ok(None);
    };
    let text = std::str::from_utf8(&buf[..end]).context("answer head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 answer: {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut framing = Framing::UntilClose;
    let mut close = version == "HTTP/1.0";
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            bail!("bad header line {line:?}");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if framing != Framing::Chunked {
                let n = value
                    .parse()
                    .with_context(|| format!("bad Content-Length {value:?}"))?;
                framing = Framing::Length(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"))
            {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("connection") {
            close = value
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("close"));
        }
    }
    // No body for 1xx, 204 and 304.
    if status < 200 || status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok(Some(Head {
        status,
        head_len: end + 4,
        framing,
        close,
    }))
}

/// A chunked body read as it arrives: each call goes on from the last whole
/// chunk, so a long answer is parsed once, not once per read.
#[derive(Default)]
struct Dechunker {
    /// Body bytes consumed so far (whole chunks).
    at: usize,
    out: Vec<u8>,
}

impl Dechunker {
    /// Takes in the whole chunks `rest` (the body received so far) holds
    /// past the last call's; true once the last chunk and the trailers'
    /// blank line are in.
    fn feed(&mut self, rest: &[u8]) -> anyhow::Result<bool> {
        loop {
            let at = self.at;
            let Some(eol) = find(&rest[at..], b"\r\n") else {
                return Ok(false);
            };
            let line =
                std::str::from_utf8(&rest[at..at + eol]).context("chunk size is not text")?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("bad chunk size {size_text:?} at body offset {at}"))?;
            let data = at + eol + 2;
            if size == 0 {
                // Trailers (usually none), each ending in CRLF, then a blank line.
                let mut t = data;
                loop {
                    let Some(eol) = find(&rest[t..], b"\r\n") else {
                        return Ok(false);
                    };
                    t += eol + 2;
                    if eol == 0 {
                        self.at = t;
                        return Ok(true);
                    }
                }
            }
            let end = data.checked_add(size).context("chunk size overflows")?;
            if rest.len() < end.saturating_add(2) {
                return Ok(false);
            }
            if &rest[end..end + 2] != b"\r\n" {
                bail!("chunk at body offset {data} does not end in CRLF");
            }
            self.out.extend_from_slice(&rest[data..end]);
            self.at = end + 2;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn requests_are_percent_encoded() {
        let r = request(
            "127.0.0.1:9",
            "/api/v1/query",
            &[
                ("query", "rate(x{a=~\"b.*\"}[5m])".to_string()),
                ("time", "1.5".to_string()),
            ],
        );
        assert_eq!(
            String::from_utf8(r).unwrap(),
            "GET /api/v1/query?query=rate%28x%7Ba%3D~%22b.%2A%22%7D%5B5m%5D%29&time=1.5 HTTP/1.1\r\n\
             Host: 127.0.0.1:9\r\nAccept: application/json\r\nUser-Agent: pharos-bench\r\n\r\n"
        );
    }

    /// The body `buf` (head included) holds, once complete: what
    /// `round_trip` takes out of its buffer.
    fn body(h: &Head, buf: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let rest = &buf[h.head_len..];
        Ok(match h.framing {
            Framing::Length(n) => (rest.len() >= n).then(|| rest[..n].to_vec()),
            Framing::Chunked => {
                let mut d = Dechunker::default();
                d.feed(rest)?.then_some(d.out)
            }
            Framing::UntilClose => None,
        })
    }

    #[test]
    fn heads_and_bodies_are_framed() {
        let a = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        let h = parse_head(a).unwrap().unwrap();
        assert_eq!(
            (h.status, h.framing, h.close),
            (200, Framing::Length(5), false)
        );
        assert_eq!(body(&h, a).unwrap().unwrap(), b"hello");
        assert_eq!(body(&h, &a[..a.len() - 1]).unwrap(), None);
        assert_eq!(parse_head(&a[..20]).unwrap(), None);

        let c = b"HTTP/1.1 422 Unprocessable\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
                  5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n";
        let h = parse_head(c).unwrap().unwrap();
        assert_eq!(
            (h.status, h.framing, h.close),
            (422, Framing::Chunked, true)
        );
        assert_eq!(body(&h, c).unwrap().unwrap(), b"hello, world");
        // Fed as it arrives, one byte more each time, into one dechunker.
        let mut d = Dechunker::default();
        for cut in h.head_len..c.len() {
            assert_eq!(body(&h, &c[..cut]).unwrap(), None, "cut at {cut}");
            assert!(!d.feed(&c[h.head_len..cut]).unwrap(), "cut at {cut}");
        }
        assert!(d.feed(&c[h.head_len..]).unwrap());
        assert_eq!(d.out, b"hello, world");

        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 2x OK\r\n\r\n").is_err());
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let h = parse_head(bad).unwrap().unwrap();
        assert!(body(&h, bad).is_err());
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n";
        assert!(body(&h, bad).is_err());
    }

    /// A server thread answering each request on one connection with the
    /// given raw answers, in turn; returns its address and the requests seen.
    fn serve(answers: Vec<&'static [u8]>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter();
            'conns: for s in l.incoming() {
                let mut s = s.unwrap();
                let mut buf = Vec::new();
                loop {
                    let mut chunk = [0u8; 4096];
                    let n = s.read(&mut chunk).unwrap_or(0);
                    if n == 0 {
                        continue 'conns;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = find(&buf, b"\r\n\r\n") {
                        seen.push(String::from_utf8_lossy(&buf[..end]).into_owned());
                        buf.drain(..end + 4);
                        match answers.next() {
                            Some(a) => s.write_all(a).unwrap(),
                            None => return seen,
                        }
                        if answers.as_slice().is_empty() {
                            return seen;
                        }
                        // The server closes after the third request.
                        if seen.len() == 3 {
                            continue 'conns;
                        }
                    }
                }
            }
            seen
        });
        (addr, h)
    }

    #[test]
    fn a_connection_is_kept_and_renewed_when_closed() {
        let (addr, h) = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext",
        ]);
        let mut c = Conn::new(&addr, Duration::from_secs(5)).unwrap();
        let p = [("query", "up".to_string())];
        assert_eq!(c.get("/a", &p).unwrap().body, b"ok");
        assert_eq!(c.get("/b", &p).unwrap().body, b"abc");
        let a = c.get("/c", &p).unwrap();
        assert_eq!((a.status, a.body.as_slice()), (400, &b"bad"[..]));
        // The server closed the connection after the third answer without
        // saying so: the fourth request goes out again on a new one.
        assert_eq!(c.get("/d", &p).unwrap().body, b"next");
        drop(c);
        let seen = h.join().unwrap();
        let lines: Vec<&str> = seen.iter().map(|s| s.lines().next().unwrap()).collect();
        assert_eq!(
            lines,
            [
                "GET /a?query=up HTTP/1.1",
                "GET /b?query=up HTTP/1.1",
                "GET /c?query=up HTTP/1.1",
                "GET /d?query=up HTTP/1.1"
            ]
        );
    }

    #[test]
    fn only_plain_http_urls() {
        assert!(Conn::new("https://x:1", Duration::from_secs(1)).is_err());
        assert!(Conn::new("http://x:1/path", Duration::from_secs(1)).is_err());
        assert!(Conn::new("http://x:1/", Duration::from_secs(1)).is_ok());
    }
}
