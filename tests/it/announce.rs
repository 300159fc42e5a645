//! `hotpush announce`: the draft (issued at the first publication, naming the
//! package-signing keys and the repo key) and `--send`, which the origin mails
//! through `[announce] smtp_url` to a real SMTP server on loopback (a small one
//! written here: greeting, EHLO, MAIL, RCPT, DATA, QUIT). The send is audited and
//! ticks the checklist's `announced` step; without a terminal and without
//! `--yes` nothing is sent; an advisory under embargo is never mailed.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::common::fixtures::{build_rpm, http_get_with_token, Gpg, Origin};
use crate::common::support::{hotpush, hotpush_bin, require_tool, run_ok};
use crate::common::test_ca::TestCa;

/// One mail as the server received it.
#[derive(Debug, Clone)]
struct Mail {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// The DATA section, dot-unstuffed, with `\r\n` line ends.
    data: String,
    /// Whether the mail came over TLS (STARTTLS or implicit).
    tls: bool,
}

/// What the test server speaks on its next connections.
#[derive(Clone)]
enum Mode {
    /// Plain SMTP that offers no STARTTLS.
    Plain,
    /// Plain SMTP that offers STARTTLS with this certificate.
    StartTls(Arc<rustls::ServerConfig>),
    /// TLS from the first byte (`smtps://`).
    Implicit(Arc<rustls::ServerConfig>),
}

/// A minimal SMTP server on `[::1]`: accepts everything and keeps the mails.
struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    mode: Arc<Mutex<Mode>>,
}

impl SmtpServer {
    fn start(mode: Mode) -> SmtpServer {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let mode = Arc::new(Mutex::new(mode));
        let (kept, current) = (mails.clone(), mode.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let kept = kept.clone();
                let mode = current.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, mode, &kept);
                });
            }
        });
        SmtpServer { port, mails, mode }
    }

    /// Changes what the next connections get.
    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, mode: Mode, kept: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let tls = |config: Arc<rustls::ServerConfig>, conn: TcpStream| {
        rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), conn)
    };
    match mode {
        Mode::Plain => session(conn, true, false, false, kept).map(drop),
        Mode::Implicit(config) => session(tls(config, conn), true, false, true, kept).map(drop),
        Mode::StartTls(config) => {
            if let Some(conn) = session(conn, true, true, false, kept)? {
                session(tls(config, conn), false, false, true, kept)?;
            }
            Ok(())
        }
    }
}

/// One SMTP exchange; returns the stream when the client asked for STARTTLS
/// (after the `220`), for the caller to wrap it in TLS and talk on without a
/// new greeting (`greet` false).
fn session<S: Read + Write>(
    conn: S,
    greet: bool,
    offer_starttls: bool,
    encrypted: bool,
    kept: &Mutex<Vec<Mail>>,
) -> std::io::Result<Option<S>> {
    let mut lines = BufReader::new(conn);
    if greet {
        lines.get_mut().write_all(b"220 test.invalid ESMTP\r\n")?;
    }
    let mut mail = Mail {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
        tls: encrypted,
    };
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let out = lines.get_mut();
        match verb.as_str() {
            "EHLO" | "HELO" if offer_starttls && !encrypted => {
                out.write_all(b"250-test.invalid\r\n250-8BITMIME\r\n250 STARTTLS\r\n")?
            }
            "EHLO" | "HELO" => out.write_all(b"250-test.invalid\r\n250 8BITMIME\r\n")?,
            "STAR" if offer_starttls && !encrypted => {
                out.write_all(b"220 go ahead\r\n")?;
                out.flush()?;
                return Ok(Some(lines.into_inner()));
            }
            "MAIL" => {
                mail.mail_from = line.trim_end().to_owned();
                out.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                mail.rcpt_to.push(line.trim_end().to_owned());
                out.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 go on\r\n")?;
                out.flush()?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l)? == 0 {
                        return Ok(None);
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                mail.data = data;
                kept.lock().unwrap().push(mail.clone());
                lines.get_mut().write_all(b"250 queued\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                out.flush()?;
                return Ok(None);
            }
            _ => out.write_all(b"250 OK\r\n")?,
        }
        lines.get_mut().flush()?;
    }
}

/// The headers of a mail, unfolded, and its body.
fn split_mail(data: &str) -> (Vec<(String, String)>, String) {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    (headers, body.replace("\r\n", "\n"))
}

/// The body as sent, decoded from quoted-printable when the mail says so.
fn decoded_body(headers: &[(String, String)], body: &str) -> String {
    let encoding = headers
        .iter()
        .find(|(k, _)| k == "content-transfer-encoding")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    if encoding != "quoted-printable" {
        return body.to_owned();
    }
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..(i + 3).min(bytes.len())]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad QP `={hex}`")));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap().replace("\r\n", "\n")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

fn gpg_fingerprint(gpg: &Gpg) -> String {
    let out = run_ok(std::process::Command::new("gpg").args([
        "--batch",
        "--homedir",
        gpg.home.to_str().unwrap(),
        "--with-colons",
        "--fingerprint",
        &gpg.email,
    ]));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("fpr:"))
        .and_then(|l| l.split(':').nth(9))
        .unwrap()
        .to_owned()
}

fn announce(
    origin: &Origin,
    token: Option<&std::path::Path>,
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = hotpush();
    cmd.args(["announce", "--server", &origin.url]);
    if let Some(token) = token {
        cmd.arg("--token-file").arg(token);
    }
    let out = cmd.args(args).stdin(Stdio::null()).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn get_json(origin: &Origin, path: &str, token: &std::path::Path) -> serde_json::Value {
    let (code, body) = http_get_with_token(&format!("{}{path}", origin.url), token).unwrap();
    assert_eq!(code, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn sent_audit_rows(origin: &Origin, admin: &std::path::Path, id: &str) -> Vec<serde_json::Value> {
    let audit = get_json(origin, "/api/v1/audit", admin);
    let rows = audit
        .as_array()
        .or_else(|| audit["entries"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("audit answer: {audit}"));
    rows.into_iter()
        .filter(|r| r["action"] == "announce-sent" && r["target"] == id)
        .collect()
}

const ID: &str = "CRIT-2026-0101";

#[test]
fn an_announcement_is_drafted_confirmed_sent_audited_and_ticked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The relay's certificate comes from an internal CA, named by `ca_file`.
    let ca = TestCa::new("internal mail CA");
    let ca_file = dir.join("mail-ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let smtp = SmtpServer::start(Mode::StartTls(ca.leaf().server_config()));
    let gpg = Gpg::new(dir, "security@example.com");
    let from = "Security Team <security@example.org>";
    let to = ["announce@example.org", "Partners <partners@example.net>"];
    let origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        &format!(
            "\n[announce]\nfrom = {from:?}\nsmtp_url = \"smtp://[::1]:{}\"\nto = [{:?}, {:?}]\nca_file = {:?}\n",
            smtp.port,
            to[0],
            to[1],
            ca_file.display().to_string()
        ),
    );
    let token = origin.token("alice", "security");
    let admin = origin.token("root", "admin");

    let rpm = build_rpm(dir, "hello", "1.0", "1", "noarch");
    gpg.sign(&rpm);
    let out = origin.push(&token, ID, &[&rpm], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The draft: issued at the publication, both kinds of key named.
    let (ok, draft, err) = announce(&origin, None, &[ID]);
    assert!(ok, "{err}");
    assert!(
        draft.starts_with("Subject: [SECURITY] CRIT-2026-0101 Critical: "),
        "{draft}"
    );
    let fingerprint = gpg_fingerprint(&gpg);
    assert!(
        draft
            .to_ascii_uppercase()
            .contains(&fingerprint.to_ascii_uppercase()),
        "the package key {fingerprint} is not named: {draft}"
    );
    assert!(draft.contains("/keys/packages.asc"), "{draft}");
    assert!(draft.contains("/keys/repo.asc"), "{draft}");
    let pushes = get_json(&origin, "/api/v1/pushes", &token);
    let push = pushes
        .as_array()
        .or_else(|| pushes["pushes"].as_array())
        .unwrap()
        .iter()
        .find(|p| p["advisory"] == ID)
        .unwrap()
        .clone();
    let published_ms = push["published_at_ms"].as_i64().expect("published");
    let issued = chrono::DateTime::from_timestamp(published_ms / 1000, 0)
        .unwrap()
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    assert!(
        draft.contains(&format!("Issued      : {issued}\n")),
        "{issued}: {draft}"
    );

    // The checklist waits for the send.
    let push_id = push["id"].as_i64().unwrap();
    let step = |origin: &Origin| {
        get_json(
            origin,
            &format!("/api/v1/pushes/{push_id}/checklist"),
            &token,
        )["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == "announced")
            .unwrap()
            .clone()
    };
    assert_ne!(step(&origin)["state"], "done", "{}", step(&origin));

    // Without a terminal and without --yes: refused, nothing sent, nothing audited.
    let (ok, printed, err) = announce(&origin, Some(&token), &["--send", ID]);
    assert!(!ok);
    assert_eq!(printed, draft, "the draft is shown before the question");
    assert!(err.contains("was not sent: there is no terminal"), "{err}");
    assert!(err.contains("--yes"), "{err}");
    assert!(smtp.mails().is_empty());
    assert!(sent_audit_rows(&origin, &admin, ID).is_empty());

    // On a terminal (util-linux `script`), anything but `y` keeps it unsent.
    require_tool("script");
    let line = format!(
        "{} announce --server {} --token-file {} --send {ID}",
        hotpush_bin().display(),
        origin.url,
        token.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("[y/N]"), "{text}");
    assert!(text.contains("was not sent: not confirmed"), "{text}");
    assert!(smtp.mails().is_empty());

    // --send without a token is refused before anything happens.
    let (ok, _, err) = announce(&origin, None, &["--send", "--yes", ID]);
    assert!(!ok);
    assert!(err.contains("needs a push-group token"), "{err}");
    assert!(smtp.mails().is_empty());

    // A relay whose certificate the origin does not trust: nothing sent,
    // audited as refused, and the hint names `[announce] ca_file`.
    let stranger = TestCa::new("someone else's CA");
    smtp.set_mode(Mode::StartTls(stranger.leaf().server_config()));
    let (ok, _, err) = announce(&origin, Some(&token), &["--send", "--yes", ID]);
    assert!(!ok);
    assert!(err.contains("was not sent"), "{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("`[announce] ca_file`"),
        "{err}"
    );
    assert!(smtp.mails().is_empty());
    let refused = sent_audit_rows(&origin, &admin, ID);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["allowed"], false, "{refused:?}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{refused:?}"
    );
    smtp.set_mode(Mode::StartTls(ca.leaf().server_config()));

    // --yes: mailed from [announce] from to every [announce] to, over STARTTLS.
    let (ok, _, err) = announce(&origin, Some(&token), &["--send", "--yes", ID]);
    assert!(ok, "{err}");
    assert!(
        err.contains("sent the announcement of CRIT-2026-0101"),
        "{err}"
    );
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert!(
        mail.tls,
        "the relay offered STARTTLS but the mail came in clear"
    );
    assert!(
        mail.mail_from.contains("<security@example.org>"),
        "{}",
        mail.mail_from
    );
    assert_eq!(mail.rcpt_to.len(), 2, "{:?}", mail.rcpt_to);
    assert!(
        mail.rcpt_to[0].contains("<announce@example.org>"),
        "{:?}",
        mail.rcpt_to
    );
    assert!(
        mail.rcpt_to[1].contains("<partners@example.net>"),
        "{:?}",
        mail.rcpt_to
    );
    let (headers, body) = split_mail(&mail.data);
    let from_header = header(&headers, "from");
    assert!(
        from_header.contains("Security Team") && from_header.contains("<security@example.org>"),
        "{from_header}"
    );
    let to_header = header(&headers, "to");
    assert!(to_header.contains("announce@example.org"), "{to_header}");
    assert!(
        to_header.contains("Partners") && to_header.contains("<partners@example.net>"),
        "{to_header}"
    );
    let (subject_line, draft_body) = draft.split_once("\n\n").unwrap();
    assert_eq!(
        format!(
            "Subject: {}",
            header(&headers, "subject")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        ),
        subject_line
    );
    let body = decoded_body(&headers, &body);
    assert_eq!(
        body.trim_end(),
        draft_body.trim_end(),
        "the body is the draft's"
    );

    // Audited (who, what, where to) and ticked in the checklist.
    let rows: Vec<_> = sent_audit_rows(&origin, &admin, ID)
        .into_iter()
        .filter(|r| r["allowed"] == true)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["actor"], "alice");
    assert_eq!(rows[0]["allowed"], true);
    assert!(
        rows[0]["reason"]
            .as_str()
            .unwrap()
            .contains("announce@example.org"),
        "{}",
        rows[0]
    );
    let announced = step(&origin);
    assert_eq!(announced["state"], "done", "{announced}");
    assert_eq!(announced["at_ms"], rows[0]["at_ms"], "{announced}");
}

#[test]
fn an_advisory_under_embargo_or_a_dead_mail_server_sends_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    // A port nothing listens on.
    let dead = crate::common::fixtures::free_port();
    let origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        &format!(
            "\n[announce]\nfrom = \"security@example.org\"\nsmtp_url = \"smtp://[::1]:{dead}\"\nto = [\"announce@example.org\"]\n"
        ),
    );
    let token = origin.token("alice", "security");
    let admin = origin.token("root", "admin");

    // Unknown id: 404 through the command, nothing audited as sent.
    let (ok, _, err) = announce(&origin, Some(&token), &["--send", "--yes", "NOSUCH-1"]);
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");

    // Declared but not published (an uploading push): under embargo, never mailed.
    let embargoed = "CRIT-2026-0102";
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg("-H")
        .arg(format!(
            "Authorization: Bearer {}",
            std::fs::read_to_string(&token).unwrap().trim()
        ))
        .args(["-H", "Content-Type: application/json", "--data"])
        .arg(format!(
            r#"{{"advisory":"{embargoed}","severity":"critical","cves":[],"summary":"Not yet public"}}"#
        ))
        .arg(format!("{}/api/v1/pushes", origin.url))
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        code.starts_with('2'),
        "create push: {code} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, _, err) = announce(&origin, Some(&token), &["--send", "--yes", embargoed]);
    assert!(!ok);
    assert!(
        err.contains("is not published: it is under embargo"),
        "{err}"
    );
    assert!(sent_audit_rows(&origin, &admin, embargoed).is_empty());

    // Published, but the mail server is down: a clear failure, audited as refused.
    let rpm = build_rpm(dir, "hello", "1.0", "1", "noarch");
    gpg.sign(&rpm);
    let out = origin.push(&token, ID, &[&rpm], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, _, err) = announce(&origin, Some(&token), &["--send", "--yes", ID]);
    assert!(!ok);
    assert!(err.contains("was not sent"), "{err}");
    let rows = sent_audit_rows(&origin, &admin, ID);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["allowed"], false);
}

/// `mail::send` to the test server at `url` (`[announce]` with `ca_file`).
fn send(url: &str, ca_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let cfg = hotpush::origin::config::AnnounceConfig {
        from: Some("security@example.org".to_owned()),
        smtp_url: Some(url.to_owned()),
        to: vec!["announce@example.org".to_owned()],
        ca_file: ca_file.map(std::path::Path::to_path_buf),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(hotpush::origin::mail::send(
            &cfg,
            "[SECURITY] test",
            "the body\n",
        ))
}

fn error_and_hint(err: &anyhow::Error) -> String {
    format!(
        "{err:#}\nhint: {}",
        hotpush::logging::hint_of(err).unwrap_or_default()
    )
}

#[test]
fn mail_goes_over_starttls_or_implicit_tls_trusting_only_the_configured_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("internal mail CA");
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    for (scheme, mode) in [
        ("smtp", Mode::StartTls(ca.leaf().server_config())),
        ("smtps", Mode::Implicit(ca.leaf().server_config())),
    ] {
        let smtp = SmtpServer::start(mode);
        let url = format!("{scheme}://[::1]:{}", smtp.port);
        // The private CA is not in the system store: refused without `ca_file`.
        let err = error_and_hint(&send(&url, None).unwrap_err());
        assert!(err.contains("certificate"), "{scheme}: {err}");
        assert!(err.contains("set `[announce] ca_file`"), "{scheme}: {err}");
        assert!(smtp.mails().is_empty(), "{scheme}");
        // With it: sent, encrypted.
        send(&url, Some(&ca_file)).unwrap_or_else(|e| panic!("{scheme}: {e:#}"));
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1, "{scheme}: {mails:?}");
        assert!(mails[0].tls, "{scheme}: sent in clear");
        assert!(mails[0].data.contains("the body"), "{scheme}");
    }
}

#[test]
fn a_certificate_the_origin_cannot_trust_fails_the_send() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("internal mail CA");
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let stranger = TestCa::new("someone else's CA");
    // Each a way a certificate can be wrong; the CA file stays the same.
    for (what, leaf, hint) in [
        (
            "signed by another CA",
            stranger.leaf(),
            "`[announce] ca_file`",
        ),
        (
            "for another name",
            ca.leaf_for(&["mail.example.org"], &["2001:db8::25"], false),
            "does not name the host",
        ),
        (
            "expired",
            ca.leaf_for(&["localhost"], &["::1"], true),
            "outside its validity period",
        ),
    ] {
        for (scheme, mode) in [
            ("smtp", Mode::StartTls(leaf.server_config())),
            ("smtps", Mode::Implicit(leaf.server_config())),
        ] {
            let smtp = SmtpServer::start(mode);
            let url = format!("{scheme}://[::1]:{}", smtp.port);
            let err = error_and_hint(&send(&url, Some(&ca_file)).unwrap_err());
            assert!(err.contains("certificate"), "{what} over {scheme}: {err}");
            assert!(err.contains(hint), "{what} over {scheme}: {err}");
            assert!(smtp.mails().is_empty(), "{what} over {scheme}: mail sent");
        }
    }
}

/// Chosen: `smtp://` refuses to send in clear when the server offers no
/// STARTTLS (an attacker on the path can strip the offer and then read or
/// change the announcement, and a login would go in clear); the URL must say
/// `?tls=opportunistic` or `?tls=none` to allow it. A relay on loopback
/// without a login is the exception (nothing on a network path to strip the
/// offer): there the default is opportunistic, so the bare URL sends.
#[test]
fn smtp_without_starttls_is_refused_unless_the_url_allows_clear_text() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new("internal mail CA");
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();

    let plain = SmtpServer::start(Mode::Plain);
    let url = format!("smtp://[::1]:{}?tls=required", plain.port);
    let err = error_and_hint(&send(&url, Some(&ca_file)).unwrap_err());
    assert!(err.contains("STARTTLS"), "{url}: {err}");
    assert!(err.contains("?tls=opportunistic"), "{url}: {err}");
    assert!(plain.mails().is_empty(), "{url}: sent in clear");
    for (n, query) in ["?tls=opportunistic", "?tls=none", ""].iter().enumerate() {
        let url = format!("smtp://[::1]:{}{query}", plain.port);
        send(&url, None).unwrap_or_else(|e| panic!("{url}: {e:#}"));
        let mails = plain.mails();
        assert_eq!(mails.len(), n + 1, "{url}");
        assert!(!mails[n].tls);
    }

    // Where STARTTLS is offered, `opportunistic` takes it and `none` does not.
    let offering = SmtpServer::start(Mode::StartTls(ca.leaf().server_config()));
    send(
        &format!("smtp://[::1]:{}?tls=opportunistic", offering.port),
        Some(&ca_file),
    )
    .unwrap();
    send(&format!("smtp://[::1]:{}?tls=none", offering.port), None).unwrap();
    let mails = offering.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(mails[0].tls, "opportunistic did not upgrade");
    assert!(!mails[1].tls, "none upgraded");
}
