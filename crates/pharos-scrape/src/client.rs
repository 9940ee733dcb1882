//! The HTTP side of a scrape: one client per scrape config and the fetch of
//! one body.
//!
//! Owns [`HttpScraper`] (a reqwest client built from a [`ScrapeConfig`]'s TLS,
//! proxy, redirect and HTTP/2 settings, plus its authentication) and
//! [`ScrapeError`]. A fetch sends Prometheus's headers (`Accept`,
//! `Accept-Encoding: gzip`, `X-Prometheus-Scrape-Timeout-Seconds`), reads
//! password and token files on every scrape, requires status 200, gunzips
//! itself and enforces `body_size_limit` on the decoded body.
//!
//! TLS is rustls with the platform's roots (or only `ca`/`ca_file` when set),
//! a client certificate, `insecure_skip_verify`, and `server_name` used for
//! certificate verification. Knows nothing of parsing, labels or storage.

use std::io::Read;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pharos_ingest::exposition::SCRAPE_ACCEPT_HEADER;
use reqwest::header::{
    HeaderValue, ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, USER_AGENT,
};
use reqwest::Url;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{ConfigError, ScrapeConfig};

/// The User-Agent of scrapes.
pub const USER_AGENT_VALUE: &str = concat!("pharos/", env!("CARGO_PKG_VERSION"));

/// Why one scrape failed. The messages are what the targets API shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScrapeError {
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("context deadline exceeded")]
    Timeout,
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("{0}")]
    Http(String),
    #[error("reading {path}: {message}")]
    Credentials { path: String, message: String },
    #[error("gzip: {0}")]
    Gzip(String),
}

/// A fetched body.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic {
        user: String,
        password: Option<String>,
        password_file: Option<String>,
    },
    Header {
        scheme: String,
        credentials: Option<String>,
        file: Option<String>,
    },
}

/// A client for one scrape config.
#[derive(Debug, Clone)]
pub struct HttpScraper {
    client: reqwest::Client,
    auth: Auth,
    body_size_limit: u64,
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid(format!("unable to load {what}: {e}"))
}

fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let r = rustls_native_certs::load_native_certs();
        for e in &r.errors {
            tracing::warn!(error = %e, "loading a platform root certificate failed");
        }
        r.certs
    })
}

fn read_pem(
    inline: &Option<String>,
    file: &Option<String>,
    what: &str,
) -> Result<Option<Vec<u8>>, ConfigError> {
    if let Some(s) = inline {
        return Ok(Some(s.as_bytes().to_vec()));
    }
    match file {
        Some(f) => std::fs::read(f)
            .map(Some)
            .map_err(|e| tls_err(what, format!("{f}: {e}"))),
        None => Ok(None),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls configuration of a scrape config.
fn tls_config(cfg: &ScrapeConfig) -> Result<rustls::ClientConfig, ConfigError> {
    let t = &cfg.tls_config;
    let mut roots = RootCertStore::empty();
    match read_pem(&t.ca, &t.ca_file, "CA certificate")? {
        Some(pem) => {
            for c in CertificateDer::pem_slice_iter(&pem) {
                let c = c.map_err(|e| tls_err("CA certificate", e))?;
                roots.add(c).map_err(|e| tls_err("CA certificate", e))?;
            }
            if roots.is_empty() {
                return Err(tls_err("CA certificate", "no certificate found"));
            }
        }
        None => {
            roots.add_parsable_certificates(native_roots().iter().cloned());
        }
    }
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        match (t.min_version.as_deref(), t.max_version.as_deref()) {
            (Some("TLS13"), _) => vec![&rustls::version::TLS13],
            (_, Some("TLS12")) => vec![&rustls::version::TLS12],
            _ => vec![&rustls::version::TLS13, &rustls::version::TLS12],
        };
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| tls_err("TLS settings", e))?;
    let verifier: Arc<dyn ServerCertVerifier> = if t.insecure_skip_verify {
        Arc::new(NoVerify(provider))
    } else {
        let inner =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| tls_err("CA certificate", e))?;
        match t.server_name.as_deref().filter(|s| !s.is_empty()) {
            Some(name) => {
                let name = ServerName::try_from(name.to_string())
                    .map_err(|e| tls_err("server_name", e))?;
                Arc::new(NameOverride { inner, name })
            }
            None => inner,
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert = read_pem(&t.cert, &t.cert_file, "client certificate")?;
    let key_inline = t.key.as_ref().map(|k| k.expose().to_string());
    let key = read_pem(&key_inline, &t.key_file, "client key")?;
    let mut conf = match (cert, key) {
        (Some(c), Some(k)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&c)
                .collect::<Result<_, _>>()
                .map_err(|e| tls_err("client certificate", e))?;
            let key = PrivateKeyDer::from_pem_slice(&k).map_err(|e| tls_err("client key", e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err("client certificate", e))?
        }
        _ => builder.with_no_client_auth(),
    };
    conf.alpn_protocols = if cfg.enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(conf)
}

impl HttpScraper {
    /// Builds the client of a scrape config (reads CA and client certificate files now).
    pub fn new(cfg: &ScrapeConfig) -> Result<HttpScraper, ConfigError> {
        let mut b = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config(cfg)?)
            .user_agent(USER_AGENT_VALUE)
            .redirect(if cfg.follow_redirects {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            })
            .pool_idle_timeout(Duration::from_secs(5 * 60));
        if !cfg.enable_http2 {
            b = b.http1_only();
        }
        if let Some(p) = cfg.proxy_url.as_deref().filter(|p| !p.is_empty()) {
            let mut proxy = reqwest::Proxy::all(p)
                .map_err(|e| ConfigError::Invalid(format!("invalid proxy_url {p:?}: {e}")))?;
            if let Some(np) = cfg.no_proxy.as_deref() {
                proxy = proxy.no_proxy(reqwest::NoProxy::from_string(np));
            }
            b = b.proxy(proxy);
        } else if !cfg.proxy_from_environment {
            b = b.no_proxy();
        }
        let client = b
            .build()
            .map_err(|e| ConfigError::Invalid(format!("error creating HTTP client: {e}")))?;
        let auth = if let Some(ba) = &cfg.basic_auth {
            Auth::Basic {
                user: ba.username.clone(),
                password: ba.password.as_ref().map(|p| p.expose().to_string()),
                password_file: ba.password_file.clone(),
            }
        } else if let Some(a) = &cfg.authorization {
            Auth::Header {
                scheme: a.scheme().to_string(),
                credentials: a.credentials.as_ref().map(|c| c.expose().to_string()),
                file: a.credentials_file.clone(),
            }
        } else if cfg.bearer_token.is_some() || cfg.bearer_token_file.is_some() {
            Auth::Header {
                scheme: "Bearer".to_string(),
                credentials: cfg.bearer_token.as_ref().map(|c| c.expose().to_string()),
                file: cfg.bearer_token_file.clone(),
            }
        } else {
            Auth::None
        };
        Ok(HttpScraper {
            client,
            auth,
            body_size_limit: cfg.body_size_limit.0,
        })
    }

    /// Fetches one body. The caller bounds the time.
    pub async fn fetch(&self, url: &Url, timeout: Duration) -> Result<Fetched, ScrapeError> {
        let mut req = self
            .client
            .get(url.clone())
            .header(ACCEPT, SCRAPE_ACCEPT_HEADER)
            .header(ACCEPT_ENCODING, "gzip")
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format_seconds(timeout),
            );
        match &self.auth {
            Auth::None => {}
            Auth::Basic {
                user,
                password,
                password_file,
            } => {
                let pw = match password_file {
                    Some(f) => Some(read_secret(f)?),
                    None => password.clone(),
                };
                req = req.basic_auth(user, pw);
            }
            Auth::Header {
                scheme,
                credentials,
                file,
            } => {
                let cred = match file {
                    Some(f) => read_secret(f)?,
                    None => credentials.clone().unwrap_or_default(),
                };
                let v = HeaderValue::from_str(&format!("{scheme} {cred}"))
                    .map_err(|e| ScrapeError::Http(format!("invalid authorization header: {e}")))?;
                req = req.header(AUTHORIZATION, v);
            }
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| ScrapeError::Http(error_chain(&e)))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(ScrapeError::Status(resp.status().to_string()));
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE);
        let gzip = header(CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        let limit = self.body_size_limit;
        // A gzip stream may be a little larger than what it holds.
        let raw_limit = if limit == 0 {
            0
        } else if gzip {
            limit + limit / 8 + 4096
        } else {
            limit
        };
        let mut raw = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| ScrapeError::Http(error_chain(&e)))?
        {
            raw.extend_from_slice(&chunk);
            if raw_limit > 0 && raw.len() as u64 > raw_limit {
                return Err(ScrapeError::BodySizeLimit);
            }
        }
        let body = if gzip { gunzip(&raw, limit)? } else { raw };
        Ok(Fetched { body, content_type })
    }
}

/// Decompresses a gzip body, refusing more than `limit` bytes (0: no limit).
pub fn gunzip(raw: &[u8], limit: u64) -> Result<Vec<u8>, ScrapeError> {
    let mut out = Vec::with_capacity(raw.len() * 4);
    let dec = flate2::read::MultiGzDecoder::new(raw);
    let res = if limit == 0 {
        let mut d = dec;
        d.read_to_end(&mut out)
    } else {
        dec.take(limit + 1).read_to_end(&mut out)
    };
    res.map_err(|e| ScrapeError::Gzip(e.to_string()))?;
    if limit > 0 && out.len() as u64 > limit {
        return Err(ScrapeError::BodySizeLimit);
    }
    Ok(out)
}

fn read_secret(path: &str) -> Result<String, ScrapeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| ScrapeError::Credentials {
            path: path.to_string(),
            message: e.to_string(),
        })
}

/// Seconds as Go's `FormatFloat(s, 'f', -1, 64)` prints them: `10`, `0.5`.
pub fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = c.source();
    }
    s
}

/// `insecure_skip_verify`: accepts any certificate, still checks handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `server_name`: verifies the certificate against this name instead of the URL's host.
#[derive(Debug)]
struct NameOverride {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_and_limits() {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&[b'a'; 1000]).unwrap();
        let gz = e.finish().unwrap();
        assert_eq!(gunzip(&gz, 0).unwrap().len(), 1000);
        assert_eq!(gunzip(&gz, 1000).unwrap().len(), 1000);
        assert_eq!(gunzip(&gz, 999), Err(ScrapeError::BodySizeLimit));
        assert!(matches!(gunzip(b"not gzip", 0), Err(ScrapeError::Gzip(_))));
    }

    #[test]
    fn seconds() {
        assert_eq!(format_seconds(Duration::from_secs(10)), "10");
        assert_eq!(format_seconds(Duration::from_millis(500)), "0.5");
    }

    #[test]
    fn clients_build() {
        let parse = |y: &str| -> ScrapeConfig { serde_yaml::from_str(y).unwrap() };
        HttpScraper::new(&parse("{job_name: a}")).unwrap();
        HttpScraper::new(&parse(
            "{job_name: a, tls_config: {insecure_skip_verify: true}, enable_http2: false}",
        ))
        .unwrap();
        HttpScraper::new(&parse("{job_name: a, tls_config: {server_name: foo.local, min_version: TLS13}, proxy_url: 'http://p:1'}")).unwrap();
        let e = HttpScraper::new(&parse(
            "{job_name: a, tls_config: {ca_file: /nonexistent/ca.pem}}",
        ))
        .unwrap_err();
        assert!(
            e.to_string().contains("unable to load CA certificate"),
            "{e}"
        );
        let e = HttpScraper::new(&parse("{job_name: a, tls_config: {ca: 'garbage'}}")).unwrap_err();
        assert!(e.to_string().contains("CA certificate"), "{e}");
    }
}
