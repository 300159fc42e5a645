//! Sending an announcement through `[announce] smtp_url` (lettre): `smtp://`
//! upgrades to TLS with STARTTLS where the server offers it (and sends in
//! clear where it does not), `smtps://` is TLS from the first byte. A
//! `user:password@` in the URL logs in.
use anyhow::Context;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::origin::config::AnnounceConfig;

/// The SMTP connection and the whole exchange give up after this long.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
    let transport = transport(url_text)?;
    transport.send(message).await.with_context(|| {
        format!(
            "the mail server at `{}` refused or failed",
            redact(url_text)
        )
    })?;
    Ok(())
}

/// The transport for `smtp://host[:port]` or `smtps://host[:port]`.
fn transport(url_text: &str) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
    let url = reqwest::Url::parse(url_text)
        .with_context(|| format!("`[announce] smtp_url` `{}` is not a URL", redact(url_text)))?;
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
        _ => anyhow::bail!("`[announce] smtp_url` names no host"),
    };
    let implicit = url.scheme() == "smtps";
    let port = url.port().unwrap_or(if implicit { 465 } else { 25 });
    let params = TlsParameters::new(host.clone())
        .with_context(|| format!("cannot set up TLS for `{host}`"))?;
    let tls = if implicit {
        Tls::Wrapper(params)
    } else {
        Tls::Opportunistic(params)
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if !url.username().is_empty() {
        let user = form_urlencoded::parse(format!("u={}", url.username()).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let password = url
            .password()
            .map(|p| {
                form_urlencoded::parse(format!("p={p}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder.build())
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
