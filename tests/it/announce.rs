//! `hotpush announce`: the draft (issued at the first publication, naming the
//! package-signing keys and the repo key) and `--send`, which the origin mails
//! through `[announce] smtp_url` to a real SMTP server on loopback (a small one
//! written here: greeting, EHLO, MAIL, RCPT, DATA, QUIT). The send is audited and
//! ticks the checklist's `announced` step; without a terminal and without
//! `--yes` nothing is sent; an advisory under embargo is never mailed.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use crate::common::fixtures::{build_rpm, http_get_with_token, Gpg, Origin};
use crate::common::support::{hotpush, hotpush_bin, require_tool, run_ok};

/// One mail as the server received it.
#[derive(Debug, Clone)]
struct Mail {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// The DATA section, dot-unstuffed, with `\r\n` line ends.
    data: String,
}

/// A minimal SMTP server on `[::1]`: accepts everything and keeps the mails.
struct SmtpServer {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    fn start() -> SmtpServer {
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = mails.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = session(conn, &kept);
                });
            }
        });
        SmtpServer { port, mails }
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn session(conn: std::net::TcpStream, kept: &Mutex<Vec<Mail>>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut lines = BufReader::new(conn);
    out.write_all(b"220 test.invalid ESMTP\r\n")?;
    let mut mail = Mail {
        mail_from: String::new(),
        rcpt_to: Vec::new(),
        data: String::new(),
    };
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => out.write_all(b"250-test.invalid\r\n250 8BITMIME\r\n")?,
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
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                mail.data = data;
                kept.lock().unwrap().push(mail.clone());
                out.write_all(b"250 queued\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"250 OK\r\n")?,
        }
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
    let smtp = SmtpServer::start();
    let gpg = Gpg::new(dir, "security@example.com");
    let from = "Security Team <security@example.org>";
    let to = ["announce@example.org", "Partners <partners@example.net>"];
    let origin = Origin::start(
        dir,
        Some(&gpg.public_key),
        &format!(
            "\n[announce]\nfrom = {from:?}\nsmtp_url = \"smtp://[::1]:{}\"\nto = [{:?}, {:?}]\n",
            smtp.port, to[0], to[1]
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

    // --yes: mailed from [announce] from to every [announce] to.
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
    let rows = sent_audit_rows(&origin, &admin, ID);
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
