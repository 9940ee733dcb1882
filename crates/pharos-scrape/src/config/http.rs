//! The HTTP client part of a scrape config: authentication and TLS, as
//! Prometheus's `common/config.HTTPClientConfig` reads and checks them.
//!
//! Owns [`BasicAuth`], [`Authorization`], [`TlsConfig`] and [`Secret`] (a
//! string that prints as `<secret>`). Knows nothing of how a client is built
//! (that is `client.rs`) or of targets.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use super::values::{lenient_opt_string, lenient_string};
use super::ConfigError;

/// A credential: read from the configuration, printed as `<secret>`.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(#[serde(deserialize_with = "lenient_string")] pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default, deserialize_with = "lenient_string")]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub password_file: Option<String>,
}

/// `authorization`: a header `Authorization: <type> <credentials>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    /// Defaults to `Bearer`.
    #[serde(
        default,
        rename = "type",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub auth_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Secret>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub credentials_file: Option<String>,
}

impl Authorization {
    /// The scheme word of the header, `Bearer` unless set.
    pub fn scheme(&self) -> &str {
        match self.auth_type.as_deref() {
            Some(t) if !t.is_empty() => t,
            _ => "Bearer",
        }
    }
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM text of CA certificates (instead of `ca_file`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub ca: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub ca_file: Option<String>,
    /// PEM text of the client certificate (instead of `cert_file`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub cert: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub cert_file: Option<String>,
    /// PEM text of the client key (instead of `key_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub key_file: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// `TLS12` or `TLS13`; older versions are refused by rustls.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub min_version: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_opt_string"
    )]
    pub max_version: Option<String>,
}

impl TlsConfig {
    /// True if nothing is set: the default client will do.
    pub fn is_default(&self) -> bool {
        self == &TlsConfig::default()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let inv = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.ca.is_some() && self.ca_file.is_some() {
            return inv("at most one of ca and ca_file must be configured");
        }
        if self.cert.is_some() && self.cert_file.is_some() {
            return inv("at most one of cert and cert_file must be configured");
        }
        if self.key.is_some() && self.key_file.is_some() {
            return inv("at most one of key and key_file must be configured");
        }
        let has_cert = self.cert.is_some() || self.cert_file.is_some();
        let has_key = self.key.is_some() || self.key_file.is_some();
        if has_cert && !has_key {
            return inv("exactly one of key or key_file must be configured when a client certificate is configured");
        }
        if has_key && !has_cert {
            return inv("exactly one of cert or cert_file must be configured when a client key is configured");
        }
        for v in [&self.min_version, &self.max_version].into_iter().flatten() {
            if !matches!(v.as_str(), "TLS10" | "TLS11" | "TLS12" | "TLS13") {
                return Err(ConfigError::Invalid(format!("unknown TLS version: {v}")));
            }
        }
        Ok(())
    }
}

/// The authentication fields of a scrape config, checked together.
pub(crate) struct HttpAuthFields<'a> {
    pub basic_auth: Option<&'a BasicAuth>,
    pub authorization: Option<&'a Authorization>,
    pub oauth2: bool,
    pub bearer_token: bool,
    pub bearer_token_file: bool,
    pub tls: &'a TlsConfig,
}

/// Checks the HTTP client fields with Prometheus's messages.
pub(crate) fn validate_http(f: &HttpAuthFields<'_>) -> Result<(), ConfigError> {
    let inv = |m: &str| Err(ConfigError::Invalid(m.to_string()));
    let bearer = f.bearer_token || f.bearer_token_file;
    if f.bearer_token && f.bearer_token_file {
        return inv("at most one of bearer_token & bearer_token_file must be configured");
    }
    if [f.basic_auth.is_some(), f.oauth2, bearer]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return inv("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
    }
    if let Some(b) = f.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            return inv("at most one of basic_auth password & password_file must be configured");
        }
    }
    if let Some(a) = f.authorization {
        if bearer {
            return inv("authorization is not compatible with bearer_token & bearer_token_file");
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return inv(
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        if a.scheme().eq_ignore_ascii_case("basic") {
            return inv(
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
    }
    if [f.basic_auth.is_some(), f.oauth2, f.authorization.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return inv("at most one of basic_auth, oauth2 & authorization must be configured");
    }
    f.tls.validate()
}

/// Makes a relative path absolute against `dir` (the configuration file's directory).
pub(crate) fn join_dir(dir: &Path, p: &mut Option<String>) {
    if let Some(s) = p.as_mut() {
        if !s.is_empty() && Path::new(s.as_str()).is_relative() {
            *s = dir.join(s.as_str()).to_string_lossy().into_owned();
        }
    }
}
