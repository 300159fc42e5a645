//! The read path end to end (`hotpush serve` + two `hotpush receive` partners on
//! `[::1]`): conditional requests (304) at the origin and at a partner for the
//! metalink, repomd.xml and its signature, ETags that follow the content and
//! are equal on every host; the metalink's order spreading package bytes by
//! weight over the verified hosts; a partner stopped after its verification
//! leaving the metalink at the next health probes with no client failing.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::common::conditional::get;
use crate::common::fixtures::{build_rpm, Gpg, Origin};
use crate::common::partner::{poll, Receiver};

const METALINK_QUERY: &str = "metalink?repo=critical-f43&arch=x86_64";
const REPODATA: &str = "critical/43/x86_64/repodata";

fn mirror_entry(r: &Receiver, name: &str, weight: u32) -> String {
    format!("{}\nweight = {weight}\n\n", r.mirror_toml(name).trim_end())
}

/// An origin pushing to `partners` (name, receiver, weight) with `extra` config.
fn start(dir: &Path, gpg: &Gpg, partners: &[(&str, &Receiver, u32)], extra: &str) -> Origin {
    let mirrors = dir.join("mirrors.toml");
    let text: String = partners
        .iter()
        .map(|(name, r, w)| mirror_entry(r, name, *w))
        .collect();
    std::fs::write(&mirrors, text).unwrap();
    Origin::start_full(
        dir,
        Some(&gpg.public_key),
        &format!("\n[publish]\npartner_deadline_secs = 30\n{extra}"),
        Some(&mirrors),
        None,
    )
}

fn push(origin: &Origin, dir: &Path, gpg: &Gpg, advisory: &str, name: &str) {
    let token = origin.token("alice", "security");
    let rpm = build_rpm(dir, name, "1.0", "1", "noarch");
    gpg.sign(&rpm);
    let out = origin.push(&token, advisory, &[&rpm], &["--timeout-secs", "60"]);
    assert!(
        out.status.success(),
        "hotpush push failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A 200 with an ETag, then a 304 (no body, same ETag, same cache policy)
/// for `If-None-Match` with it, and a 200 for a stale one. Returns the ETag.
async fn assert_conditional(client: &reqwest::Client, url: &str) -> (String, Vec<u8>) {
    let full = get(client, url, None).await;
    assert_eq!(full.status, 200, "{url}");
    let etag = full
        .etag
        .clone()
        .unwrap_or_else(|| panic!("no ETag: {url}"));
    let again = get(client, url, Some(&etag)).await;
    assert_eq!(again.status, 304, "{url} with If-None-Match {etag}");
    assert!(again.body.is_empty(), "{url}: a 304 with a body");
    assert_eq!(again.etag.as_deref(), Some(etag.as_str()), "{url}");
    assert_eq!(again.cache, full.cache, "{url}");
    let stale = get(client, url, Some("\"0000\"")).await;
    assert_eq!(stale.status, 200, "{url} with a stale ETag");
    (etag, full.body)
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::common::repo_files::sha256_hex(bytes)
}

fn base_of(r: &Receiver) -> String {
    r.public_url.trim_end_matches("/pub").to_owned()
}

/// Every host's ETags (metalink, repomd.xml, .asc), once each host's
/// metalink copy names the origin's current repomd.xml and the hosts the
/// origin's metalink lists (a copy follows the origin by one push: a partner
/// verified by a catch-up changes the list after the others got their copy).
async fn etags_everywhere(
    client: &reqwest::Client,
    origin: &Origin,
    partners: &[&Receiver],
) -> Vec<[String; 3]> {
    let mut hosts = vec![(
        format!("{}/{METALINK_QUERY}", origin.url),
        format!("{}/pub", origin.url),
    )];
    for r in partners {
        hosts.push((
            format!("{}/{METALINK_QUERY}", base_of(r)),
            r.public_url.clone(),
        ));
    }
    let repomd_sha = sha256_hex(
        &get(
            client,
            &format!("{}/pub/{REPODATA}/repomd.xml", origin.url),
            None,
        )
        .await
        .body,
    );
    let origin_metalink = hosts[0].0.clone();
    let mut out = Vec::new();
    for (metalink_url, pub_url) in hosts {
        // The copy reaches a partner right after its verification.
        for _ in 0..300 {
            let origin_etag = get(client, &origin_metalink, None).await.etag;
            let got = get(client, &metalink_url, None).await;
            if got.status == 200
                && String::from_utf8_lossy(&got.body).contains(&repomd_sha)
                && got.etag == origin_etag
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (metalink_etag, body) = assert_conditional(client, &metalink_url).await;
        assert!(
            String::from_utf8_lossy(&body).contains(&repomd_sha),
            "{metalink_url} does not name the current repomd.xml"
        );
        assert!(
            metalink_etag.starts_with("W/\""),
            "{metalink_url}: {metalink_etag}"
        );
        let (repomd_etag, repomd) =
            assert_conditional(client, &format!("{pub_url}/{REPODATA}/repomd.xml")).await;
        assert_eq!(
            repomd_etag,
            format!("\"{}\"", sha256_hex(&repomd)),
            "{pub_url}"
        );
        let (asc_etag, asc) =
            assert_conditional(client, &format!("{pub_url}/{REPODATA}/repomd.xml.asc")).await;
        assert_eq!(asc_etag, format!("\"{}\"", sha256_hex(&asc)), "{pub_url}");
        out.push([metalink_etag, repomd_etag, asc_etag]);
    }
    out
}

#[test]
fn conditional_requests_answer_304_everywhere_and_etags_follow_the_content() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let a = Receiver::start();
    let b = Receiver::start();
    // No health probes here: a probe timing out on a loaded machine drops a
    // host from the origin's metalink (new content, so a new ETag) while the
    // partners keep the copy of the last fan-out. This test is about equal
    // content; the probes are tested below.
    let origin = start(
        dir,
        &gpg,
        &[("partner-a", &a, 1), ("partner-b", &b, 1)],
        "\n[metalink]\nprobe_interval_secs = 0\n",
    );
    push(&origin, dir, &gpg, "CRIT-2026-0201", "hello");
    let rt = crate::common::partner::runtime();
    let client = reqwest::Client::new();

    let first = rt.block_on(etags_everywhere(&client, &origin, &[&a, &b]));
    for host in &first[1..] {
        assert_eq!(
            host, &first[0],
            "the same content has the same ETags on every host"
        );
    }

    // Content-named metadata: immutable, the ETag is the hash in the name.
    let repomd = rt.block_on(get(
        &client,
        &format!("{}/{REPODATA}/repomd.xml", a.public_url),
        None,
    ));
    let text = String::from_utf8(repomd.body).unwrap();
    let href = text
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let sha = href.trim_start_matches("repodata/")[..64].to_owned();
    for pub_url in [format!("{}/pub", origin.url), a.public_url.clone()] {
        let url = format!("{pub_url}/critical/43/x86_64/{href}");
        let (etag, body) = rt.block_on(assert_conditional(&client, &url));
        assert_eq!(etag, format!("\"{sha}\""));
        assert_eq!(sha256_hex(&body), sha);
        let got = rt.block_on(get(&client, &url, None));
        assert!(got.cache.unwrap().contains("immutable"), "{url}");
    }

    // A publish: every ETag changes at every host, and they agree again.
    let old_copy = std::fs::read(a.data().join("metalink/critical-f43.x86_64.xml")).unwrap();
    push(&origin, dir, &gpg, "CRIT-2026-0202", "world");
    let second = rt.block_on(etags_everywhere(&client, &origin, &[&a, &b]));
    for (host, (before, after)) in first.iter().zip(&second).enumerate() {
        for kind in 0..3 {
            assert_ne!(
                before[kind], after[kind],
                "host {host}, ETag {kind} did not change"
            );
        }
        assert_eq!(after, &second[0], "host {host} disagrees after the publish");
    }

    // A copy naming a repomd.xml the partner does not serve is never served.
    let copy = a.data().join("metalink/critical-f43.x86_64.xml");
    std::fs::write(&copy, &old_copy).unwrap();
    let got = rt.block_on(get(
        &client,
        &format!("{}/{METALINK_QUERY}", base_of(&a)),
        None,
    ));
    assert_eq!(got.status, 404, "a stale metalink copy was served");
}

/// Fetches the metalink, then the package from its hosts in document order
/// (the next on an error, as dnf does). Returns the index of the host that
/// served it, or the failure.
async fn one_client(
    client: &reqwest::Client,
    metalink_url: &str,
    package: &str,
    hosts: &[String],
    bytes: &mut BTreeMap<usize, u64>,
) -> Result<(), String> {
    let got = get(client, metalink_url, None).await;
    if got.status != 200 {
        return Err(format!("metalink answered {}", got.status));
    }
    let parsed = hotpush::core::metalink::parse(&String::from_utf8_lossy(&got.body))
        .map_err(|e| format!("{e:#}"))?;
    for url in &parsed.urls {
        let base = url.url.trim_end_matches("repodata/repomd.xml");
        let Ok(resp) = client.get(format!("{base}{package}")).send().await else {
            continue;
        };
        if resp.status() != 200 {
            continue;
        }
        let Ok(body) = resp.bytes().await else {
            continue;
        };
        let host = hosts
            .iter()
            .position(|h| url.url.starts_with(h.as_str()))
            .ok_or_else(|| format!("unknown host in {}", url.url))?;
        *bytes.entry(host).or_default() += body.len() as u64;
        return Ok(());
    }
    Err("no host served the package".to_owned())
}

fn shares(bytes: &BTreeMap<usize, u64>, hosts: usize) -> Vec<f64> {
    let total: u64 = bytes.values().sum();
    (0..hosts)
        .map(|i| *bytes.get(&i).unwrap_or(&0) as f64 / total as f64)
        .collect()
}

#[test]
fn package_bytes_follow_the_weights_and_a_stopped_partner_leaves_the_metalink() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let a = Receiver::start();
    let mut b = Receiver::start();
    let origin = start(
        dir,
        &gpg,
        &[("partner-a", &a, 2), ("partner-b", &b, 1)],
        "\n[metalink]\norigin_weight = 1\nspread_min_partners = 1\nprobe_interval_secs = 1\n",
    );
    push(&origin, dir, &gpg, "CRIT-2026-0203", "hello");
    let rt = crate::common::partner::runtime();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let metalink_url = format!("{}/{METALINK_QUERY}", origin.url);
    let hosts = vec![
        format!("{}/pub/", origin.url),
        format!("{}/", a.public_url),
        format!("{}/", b.public_url),
    ];
    let package = "Packages/h/hello-1.0-1.noarch.rpm";
    let listed = |rt: &tokio::runtime::Runtime| {
        let body = rt.block_on(get(&client, &metalink_url, None)).body;
        hotpush::core::metalink::parse(&String::from_utf8_lossy(&body))
            .unwrap()
            .urls
            .len()
    };
    poll("both partners listed", Duration::from_secs(30), || {
        (listed(&rt) == 3).then_some(())
    });

    // 400 clients: each host is first in proportion to its weight (1:2:1).
    let mut bytes = BTreeMap::new();
    rt.block_on(async {
        for _ in 0..400 {
            one_client(&client, &metalink_url, package, &hosts, &mut bytes)
                .await
                .unwrap();
        }
    });
    let got = shares(&bytes, 3);
    for (i, want) in [0.25, 0.5, 0.25].into_iter().enumerate() {
        assert!(
            (got[i] - want).abs() <= 0.10,
            "host {i}: share {:.3}, weight share {want} ({got:?})",
            got[i]
        );
    }

    // partner-b stops: clients keep succeeding (they fail over), and the
    // health probes take it out of the metalink.
    b.process.kill();
    let mut failures = Vec::new();
    let mut rounds = 0;
    poll(
        "partner-b to leave the metalink",
        Duration::from_secs(30),
        || {
            rounds += 1;
            rt.block_on(async {
                for _ in 0..10 {
                    let mut ignored = BTreeMap::new();
                    if let Err(e) =
                        one_client(&client, &metalink_url, package, &hosts, &mut ignored).await
                    {
                        failures.push(e);
                    }
                }
            });
            (listed(&rt) == 2).then_some(())
        },
    );
    assert!(
        failures.is_empty(),
        "clients failed while partner-b was down: {failures:?}"
    );
    assert!(rounds >= 1);
    // partner-a's copy of the metalink drops partner-b too, without a push.
    let copy_url = format!("{}/{METALINK_QUERY}", base_of(&a));
    poll(
        "partner-a's metalink copy to drop partner-b",
        Duration::from_secs(30),
        || {
            let got = rt.block_on(get(&client, &copy_url, None));
            let doc = hotpush::core::metalink::parse(&String::from_utf8_lossy(&got.body)).ok()?;
            let urls: Vec<String> = doc.urls.iter().map(|u| u.url.clone()).collect();
            (got.status == 200
                && urls.len() == 2
                && !urls.iter().any(|u| u.starts_with(&b.public_url)))
            .then_some(())
        },
    );

    // Its share goes to the others, by their weights (1:2).
    let mut bytes = BTreeMap::new();
    rt.block_on(async {
        for _ in 0..300 {
            one_client(&client, &metalink_url, package, &hosts, &mut bytes)
                .await
                .unwrap();
        }
    });
    let got = shares(&bytes, 3);
    assert_eq!(got[2], 0.0, "the stopped partner still served: {got:?}");
    for (i, want) in [1.0 / 3.0, 2.0 / 3.0].into_iter().enumerate() {
        assert!(
            (got[i] - want).abs() <= 0.10,
            "host {i}: share {:.3}, weight share {want:.3} ({got:?})",
            got[i]
        );
    }
}

/// A CA, and leaf certificates for `localhost` and `::1` signed by it.
struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl TestCa {
    fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hotpush test CA");
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            pem: cert.pem(),
        }
    }

    /// Writes a fresh leaf certificate and key (new key, new serial) to the
    /// two files, each by rename; returns the certificate's DER.
    fn issue(&self, cert_file: &Path, key_file: &Path) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("::1".parse().unwrap()));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        for (path, text) in [(key_file, key.serialize_pem()), (cert_file, cert.pem())] {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        cert.der().to_vec()
    }
}

/// The certificate a TLS server at `addr` presents (trusting `ca_pem`).
async fn presented_cert(addr: &str, ca_pem: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("::1").unwrap();
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, conn) = tls.get_ref();
    Ok(conn.peer_certificates().ok_or("no certificate")?[0].to_vec())
}

#[test]
fn https_origin_serves_dnf_and_picks_up_a_renewed_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let gpg = Gpg::new(dir, "security@example.com");
    let ca = TestCa::new();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    let (cert_file, key_file) = (dir.join("origin.crt"), dir.join("origin.key"));
    let first = ca.issue(&cert_file, &key_file);
    let tls_port = crate::common::fixtures::free_port();
    let https = format!("https://[::1]:{tls_port}");
    let origin = Origin::start_full(
        dir,
        Some(&gpg.public_key),
        &format!(
            "\n[tls]\ncert_file = {:?}\nkey_file = {:?}\nlisten = [\"[::1]:{tls_port}\"]\n",
            cert_file.display().to_string(),
            key_file.display().to_string()
        ),
        None,
        Some(&https),
    );
    push(&origin, dir, &gpg, "CRIT-2026-0204", "hello");
    let rt = crate::common::partner::runtime();
    let addr = format!("[::1]:{tls_port}");
    assert_eq!(rt.block_on(presented_cert(&addr, &ca.pem)).unwrap(), first);

    // The .repo names the https metalink; dnf trusts the CA through sslcacert.
    let repo = String::from_utf8(
        crate::common::support::run_ok(crate::common::support::hotpush().args([
            "repofile",
            "--server",
            &origin.url,
        ]))
        .stdout,
    )
    .unwrap();
    assert!(
        repo.contains(&format!("metalink={https}/metalink")),
        "{repo}"
    );
    let with_ca = |repo: &str| -> String {
        repo.lines()
            .flat_map(|l| {
                let mut out = vec![l.to_owned()];
                if l.starts_with('[') {
                    out.push(format!("sslcacert={}", ca_file.display()));
                }
                out
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let dnf = crate::common::fixtures::Dnf::new(&dir.join("client1"), &with_ca(&repo));
    dnf.ok(&["install", "hello"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-1.noarch")
    );
    // Plain HTTP stays.
    let (code, _) =
        crate::common::fixtures::http_get(&format!("{}/{METALINK_QUERY}", origin.url)).unwrap();
    assert_eq!(code, 200);

    // The certificate is renewed on disk: new connections get it, no restart.
    let second = ca.issue(&cert_file, &key_file);
    assert_ne!(first, second);
    poll("the renewed certificate", Duration::from_secs(30), || {
        let got = rt.block_on(presented_cert(&addr, &ca.pem)).ok()?;
        (got == second).then_some(())
    });
    let dnf = crate::common::fixtures::Dnf::new(&dir.join("client2"), &with_ca(&repo));
    dnf.ok(&["install", "hello"]);
    assert_eq!(
        dnf.installed("hello").as_deref(),
        Some("hello-1.0-1.noarch")
    );
}

#[test]
fn bad_read_path_settings_are_refused_naming_the_field() {
    use hotpush::origin::config::Config;
    let source = Path::new("/etc/hotpush/hotpush.toml");
    let cases = [
        ("[tls]\ncert_file = \"a.crt\"\n", "tls.key_file"),
        ("[tls]\nkey_file = \"a.key\"\n", "tls.cert_file"),
        (
            "listen = [\"[::1]:8080\"]\n[tls]\ncert_file = \"a\"\nkey_file = \"b\"\nlisten = [\"[::1]:8080\"]\n",
            "tls.listen",
        ),
        ("[metalink]\norigin_weight = 1001\n", "metalink.origin_weight"),
        ("[metalink]\nprobe_interval_secs = 3601\n", "metalink.probe_interval_secs"),
        ("[metalink]\nspread_min = 2\n", "spread_min"),
    ];
    for (text, field) in cases {
        let err = format!("{:#}", Config::from_toml(text, source).unwrap_err());
        assert!(err.contains(field), "{text:?}: {err}");
    }
    let ok = Config::from_toml(
        "[tls]\ncert_file = \"tls/o.crt\"\nkey_file = \"tls/o.key\"\n[metalink]\norigin_weight = 0\nspread_min_partners = 0\nprobe_interval_secs = 0\n",
        source,
    )
    .unwrap();
    let tls = ok.tls.unwrap();
    assert_eq!(tls.cert_file, Path::new("/etc/hotpush/tls/o.crt"));
    assert_eq!(tls.listen, vec!["[::]:8443".parse().unwrap()]);

    // A certificate file that is not there, or a key of another certificate:
    // refused at start, naming the file.
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let (cert, key) = (tmp.path().join("o.crt"), tmp.path().join("o.key"));
    ca.issue(&cert, &key);
    let other_key = tmp.path().join("other.key");
    ca.issue(&tmp.path().join("other.crt"), &other_key);
    for (cert_file, key_file, want) in [
        (tmp.path().join("missing.crt"), key.clone(), "missing.crt"),
        (cert.clone(), other_key, "does not belong"),
        (key.clone(), key.clone(), "no PEM certificate"),
    ] {
        let tls = hotpush::origin::config::TlsConfig {
            cert_file,
            key_file,
            listen: vec![],
        };
        let err = format!("{:#}", hotpush::origin::tls::acceptor(&tls).err().unwrap());
        assert!(err.contains(want), "{err}");
    }
}
