//! Sending an announcement through `[announce] smtp_url` (lettre). `smtp://`
//! requires STARTTLS by default and refuses to send in clear when the server
//! does not offer it; `?tls=opportunistic` sends in clear then, `?tls=none`
//! never upgrades. A relay on loopback without a login defaults to
//! opportunistic (no network path to strip the offer). `smtps://` is TLS from the first
//! byte. Certificates are checked against the system store plus `[announce]
//! ca_file`. A `user:password@` in the URL logs in, only over TLS.
use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::origin::config::AnnounceConfig;

/// The SMTP connection and the whole exchange give up after this long.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How an `smtp://` connection uses STARTTLS (`?tls=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// The default: upgrade, or refuse to send when the server does not offer it.
    Required,
    /// Upgrade when offered, else send in clear (`?tls=opportunistic`).
    Opportunistic,
    /// Never upgrade (`?tls=none`): a relay on loopback or a trusted network.
    None,
}

/// `[announce] smtp_url`, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpTarget {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte.
    pub implicit_tls: bool,
    /// For `smtp://` only.
    pub starttls: StartTls,
    /// Decoded user and password.
    pub credentials: Option<(String, String)>,
}

/// Parses `smtp://[user:password@]host[:port][?tls=required|opportunistic|none]`
/// or `smtps://[user:password@]host[:port]`; the error is the reason, for a
/// message that names the key. Without `?tls=`, STARTTLS is required, except
/// for a relay on loopback without a login (opportunistic).
pub fn parse_smtp_url(text: &str) -> Result<SmtpTarget, String> {
    if text.chars().any(char::is_control) {
        return Err("the URL holds a control character".to_owned());
    }
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    let implicit_tls = match url.scheme() {
        "smtps" => true,
        "smtp" => false,
        other => return Err(format!("the scheme `{other}` is not `smtp` or `smtps`")),
    };
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
        _ => return Err("the URL names no host".to_owned()),
    };
    if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
        return Err("the URL has a path or fragment; only `?tls=` may follow the host".to_owned());
    }
    let mut starttls = StartTls::Required;
    let mut seen_tls = false;
    for (key, value) in url.query_pairs() {
        if key != "tls" {
            return Err(format!(
                "the query parameter `{key}` is unknown; only `tls` is read"
            ));
        }
        if seen_tls {
            return Err("`tls` is given twice".to_owned());
        }
        seen_tls = true;
        if implicit_tls {
            return Err("`smtps://` is always TLS: `?tls=` applies to `smtp://` only".to_owned());
        }
        starttls = match value.as_ref() {
            "required" => StartTls::Required,
            "opportunistic" => StartTls::Opportunistic,
            "none" => StartTls::None,
            other => {
                return Err(format!(
                    "`tls={other}` is not `required`, `opportunistic` or `none`"
                ))
            }
        };
    }
    let credentials = if url.username().is_empty() {
        None
    } else {
        let decode = |part: &str| {
            form_urlencoded::parse(format!("v={part}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Some((
            decode(url.username()),
            url.password().map(decode).unwrap_or_default(),
        ))
    };
    // A relay on this machine (the DESIGN example `smtp://[::1]:2525`): no
    // network path to strip STARTTLS from, so without `?tls=` and without a
    // login it is upgraded when offered and used in clear otherwise.
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !seen_tls && !implicit_tls && loopback && credentials.is_none() {
        starttls = StartTls::Opportunistic;
    }
    if credentials.is_some() && !implicit_tls && starttls != StartTls::Required {
        return Err(
            "a user and password would be sent in clear: logging in needs `smtps://` or STARTTLS required (no `?tls=`)"
                .to_owned(),
        );
    }
    Ok(SmtpTarget {
        port: url.port().unwrap_or(if implicit_tls { 465 } else { 25 }),
        host,
        implicit_tls,
        starttls,
        credentials,
    })
}

/// What `[announce]` lacks for sending, as a sentence; `None` when it can send.
pub fn not_configured(cfg: &AnnounceConfig) -> Option<&'static str> {
    if cfg.smtp_url.is_none() {
        Some("`[announce] smtp_url` is not set")
    } else if cfg.from.is_none() {
        Some("`[announce] from` is not set")
    } else if cfg.to.is_empty() {
        Some("`[announce] to` lists no address")
    } else {
        None
    }
}

/// Mails `subject` and `body` from `[announce] from` to every `[announce] to`.
pub async fn send(cfg: &AnnounceConfig, subject: &str, body: &str) -> anyhow::Result<()> {
    if let Some(missing) = not_configured(cfg) {
        anyhow::bail!("{missing}");
    }
    let url_text = cfg.smtp_url.as_deref().unwrap_or_default();
    let from: Mailbox = cfg
        .from
        .as_deref()
        .unwrap_or_default()
        .parse()
        .context("`[announce] from` is not an address the mail library accepts")?;
    let mut message = Message::builder().from(from).subject(subject);
    for to in &cfg.to {
        let mailbox: Mailbox = to
            .parse()
            .with_context(|| format!("`[announce] to` entry `{to}` is not an address"))?;
        message = message.to(mailbox);
    }
    // Plain 7-bit text as drafted when it fits (readable in any archive or
    // client), else whatever encoding lettre picks (quoted-printable, base64).
    let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
    let body =
        Body::new_with_encoding(crlf, ContentTransferEncoding::SevenBit).unwrap_or_else(Body::new);
    let message = message
        .singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(body),
        )
        .context("cannot build the announcement e-mail")?;
    let transport = transport(cfg)?;
    if let Err(e) = transport.send(message).await {
        let what = format!(
            "the mail server at `{}` refused or failed",
            redact(url_text)
        );
        return Err(match send_hint(&e, cfg) {
            Some(hint) => crate::logging::user_error(format!("{what}: {}", causes(&e)), hint),
            None => anyhow::Error::new(e).context(what),
        });
    }
    Ok(())
}

/// The transport for `[announce] smtp_url`, trusting the system store plus
/// `[announce] ca_file` (read for every send, so a renewed CA needs no restart).
fn transport(cfg: &AnnounceConfig) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let url_text = cfg.smtp_url.as_deref().unwrap_or_default();
    let target = parse_smtp_url(url_text).map_err(|reason| {
        crate::logging::user_error(
            format!("`[announce] smtp_url` `{}`: {reason}", redact(url_text)),
            "write `smtps://host[:port]`, or `smtp://host[:port]` with `?tls=opportunistic` or `?tls=none` for a server without STARTTLS",
        )
    })?;
    let mut params = TlsParameters::builder(target.host.clone());
    if let Some(ca_file) = &cfg.ca_file {
        // Checked at start; read again here in case it was renewed since.
        crate::io::http::read_ca_file(ca_file)?;
        let pem = fs_err::read(ca_file)?;
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            crate::logging::user_error(
                format!("the CA file `{}` cannot be used: {e}", ca_file.display()),
                "point `[announce] ca_file` at a PEM file holding the mail server's CA certificate",
            )
        })?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build()
        .with_context(|| format!("cannot set up TLS for `{}`", target.host))?;
    let tls = match (target.implicit_tls, target.starttls) {
        (true, _) => Tls::Wrapper(params),
        (false, StartTls::Required) => Tls::Required(params),
        (false, StartTls::Opportunistic) => Tls::Opportunistic(params),
        (false, StartTls::None) => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(target.host)
        .port(target.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let Some((user, password)) = target.credentials {
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
}

/// The error and its causes on one line.
fn causes(err: &lettre::transport::smtp::Error) -> String {
    crate::io::http::with_causes(err.to_string(), std::error::Error::source(err))
}

/// What to do about a failed send, when the failure says it.
fn send_hint(err: &lettre::transport::smtp::Error, cfg: &AnnounceConfig) -> Option<String> {
    let text = causes(err);
    if text.contains("STARTTLS is not supported") {
        return Some("the mail server does not offer STARTTLS, so nothing was sent in clear: use `smtps://` if it speaks TLS on another port, or add `?tls=opportunistic` (or `?tls=none` for a relay on loopback) to `[announce] smtp_url` to allow sending in clear".to_owned());
    }
    if !(err.is_tls() || text.contains("certificate")) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let hint = if lower.contains("not valid for name") || lower.contains("notvalidforname") {
        "the mail server's certificate does not name the host in `[announce] smtp_url`: write the name the certificate holds there (or give the relay a certificate for it)".to_owned()
    } else if lower.contains("expired")
        || lower.contains("not valid before")
        || lower.contains("notvalidyet")
    {
        "the mail server's certificate is outside its validity period: renew it on the relay (or check this machine's clock)".to_owned()
    } else {
        match &cfg.ca_file {
            Some(path) => format!(
                "the mail server's certificate is not trusted: `[announce] ca_file` (`{}`) and the system store hold no CA that signed it: add the relay's CA to that file (read at every send)",
                path.display()
            ),
            None => "the mail server's certificate is not trusted: set `[announce] ca_file` to a PEM file with the relay's CA (an internal CA is not in the system store) and restart the origin".to_owned(),
        }
    };
    Some(hint)
}

/// The URL without its password, for messages and the audit log.
pub fn redact(url_text: &str) -> String {
    match reqwest::Url::parse(url_text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_smtp_url, StartTls};

    #[test]
    fn starttls_is_required_by_default_except_for_a_loopback_relay_without_login() {
        let mode = |u: &str| parse_smtp_url(u).unwrap().starttls;
        assert_eq!(mode("smtp://relay.example.org"), StartTls::Required);
        assert_eq!(mode("smtp://192.0.2.7:25"), StartTls::Required);
        assert_eq!(mode("smtp://[2001:db8::1]:25"), StartTls::Required);
        assert_eq!(mode("smtp://[::1]:2525"), StartTls::Opportunistic);
        assert_eq!(mode("smtp://127.0.0.1"), StartTls::Opportunistic);
        assert_eq!(mode("smtp://localhost:25"), StartTls::Opportunistic);
        assert_eq!(mode("smtp://[::1]:2525?tls=required"), StartTls::Required);
        assert_eq!(mode("smtp://u:pw@[::1]:2525"), StartTls::Required);
    }
}
