//! The one HTTP client builder and the one size-capped fetch. Every outgoing
//! client trusts the system CA store (as curl and dnf do) and the built-in
//! public roots, plus an optional PEM file (a partner's own CA); each has a
//! connect timeout, an overall timeout, a bounded redirect policy and a
//! versioned User-Agent. Every whole-body download goes through
//! [`fetch_capped`], so no answer can grow the process without bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What an HTTP client needs to be built.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The product part of the User-Agent (`hotpush`, `hotpush-verify`, ...);
    /// the crate version is appended.
    pub agent: &'static str,
    pub connect_timeout: Duration,
    /// The whole request, body included; `None` for streams that may be long.
    pub timeout: Option<Duration>,
    /// Redirects followed; 0 follows none.
    pub redirects: usize,
    /// A PEM bundle trusted besides the system and built-in roots.
    pub ca_file: Option<PathBuf>,
    /// Use `HTTP(S)_PROXY` from the environment (partner pushes never do).
    pub proxy: bool,
}

impl ClientSpec {
    /// A client for `agent` with 10 s to connect, 60 s per request, up to 5
    /// redirects, proxies from the environment and no extra CA.
    pub fn new(agent: &'static str) -> Self {
        ClientSpec {
            agent,
            connect_timeout: Duration::from_secs(10),
            timeout: Some(Duration::from_secs(60)),
            redirects: 5,
            ca_file: None,
            proxy: true,
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn redirects(mut self, redirects: usize) -> Self {
        self.redirects = redirects;
        self
    }

    pub fn ca_file(mut self, ca_file: Option<&Path>) -> Self {
        self.ca_file = ca_file.map(Path::to_path_buf);
        self
    }

    pub fn no_proxy(mut self) -> Self {
        self.proxy = false;
        self
    }

    /// Builds the client. Fails, naming the file, when `ca_file` cannot be
    /// read or holds no certificate.
    pub fn build(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.connect_timeout)
            .user_agent(format!("{}/{}", self.agent, env!("CARGO_PKG_VERSION")))
            .redirect(if self.redirects == 0 {
                reqwest::redirect::Policy::none()
            } else {
                reqwest::redirect::Policy::limited(self.redirects)
            });
        if let Some(timeout) = self.timeout {
            builder = builder.timeout(timeout).read_timeout(timeout);
        }
        if !self.proxy {
            builder = builder.no_proxy();
        }
        if let Some(ca_file) = &self.ca_file {
            for cert in read_ca_file(ca_file)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {}", describe(&e)))
    }
}

/// Reads a PEM bundle of CA certificates, naming the file and what to do when
/// it cannot be used.
pub fn read_ca_file(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    const CA_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;
    let meta = fs_err::metadata(path).map_err(|e| {
        crate::logging::user_error(
            format!("cannot read the CA file `{}`: {e}", path.display()),
            "point `ca_file` / `--ca-file` at a PEM file holding the CA certificate",
        )
    })?;
    if meta.len() > CA_FILE_BYTES_MAX {
        return Err(crate::logging::user_error(
            format!(
                "the CA file `{}` is {} bytes, more than the {CA_FILE_BYTES_MAX} accepted",
                path.display(),
                meta.len()
            ),
            "point `ca_file` / `--ca-file` at a PEM file holding only the CA certificates",
        ));
    }
    let pem = fs_err::read(path)?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
    if certs.is_empty() {
        return Err(crate::logging::user_error(
            format!("the CA file `{}` holds no PEM certificate", path.display()),
            "it must contain `-----BEGIN CERTIFICATE-----` blocks",
        ));
    }
    Ok(certs)
}

/// Why a capped fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Could not connect, timed out, or the body broke off.
    #[error("{0}")]
    Transport(String),
    /// The server answered with a status other than 200.
    #[error("HTTP {status} from {url}")]
    Status {
        status: reqwest::StatusCode,
        url: String,
    },
    /// The body is larger than the cap.
    #[error("{url} is larger than the {max} bytes accepted")]
    TooLarge { url: String, max: u64 },
}

/// GETs `url` and reads its whole body, refusing any status but 200 and any
/// body larger than `max` bytes (checked against Content-Length first, then
/// while reading, so memory never exceeds the cap).
pub async fn fetch_capped(
    client: &reqwest::Client,
    url: &str,
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| FetchError::Transport(describe(&e)))?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        return Err(FetchError::Status {
            status,
            url: url.to_owned(),
        });
    }
    read_capped(&mut response, url, max).await
}

/// Reads a response body of at most `max` bytes.
pub async fn read_capped(
    response: &mut reqwest::Response,
    url: &str,
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_owned(),
        max,
    };
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Transport(format!("download broke off: {}", describe(&e))))?
    {
        if body.len() as u64 + chunk.len() as u64 > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error in plain words with every cause (reqwest's own text says
/// only "error sending request"): "timed out", "cannot connect: ...
/// Connection refused", "certificate not trusted: ...".
pub fn describe(err: &reqwest::Error) -> String {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else if err.is_redirect() {
        "too many redirects"
    } else if err.is_builder() {
        "not a usable URL"
    } else if err.is_body() || err.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    with_causes(what.to_owned(), std::error::Error::source(err))
}

/// `text` followed by every cause from `source` on, each once (a cause whose
/// text the line already ends with is not repeated).
pub fn with_causes(
    mut text: String,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = ClientSpec::new("hotpush-test")
            .ca_file(Some(Path::new("/nonexistent/ca.pem")))
            .build()
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/ca.pem"),
            "{err:#}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("hotpush-ca-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_ca_file(&path).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(
            format!("{err:#}").contains("holds no PEM certificate"),
            "{err:#}"
        );
    }

    #[test]
    fn clients_build_with_every_option() {
        ClientSpec::new("hotpush-test")
            .timeout(Duration::from_secs(1))
            .connect_timeout(Duration::from_secs(1))
            .redirects(0)
            .no_proxy()
            .build()
            .unwrap();
        ClientSpec::new("hotpush-test")
            .no_timeout()
            .build()
            .unwrap();
    }
}
