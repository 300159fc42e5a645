//! `hotpush demo`: the whole product on loopback in one process, for a first
//! look. It generates a package-signing key (the `pgp` crate, through
//! `signing::RepoKey`), builds and signs a sample `hello-fix` noarch package with
//! the `rpm` crate, starts two partner receivers (`partner::start`) and an
//! origin that trusts the key and pushes to both (`origin::server::start_on`,
//! the start `hotpush serve` uses), pushes the sample through the
//! real API exactly as `hotpush push` does (`client::push`), writes the client
//! files (`.repo`, `-repos` RPM, `dnf.conf`) and prints what to try. Runs until
//! SIGINT/SIGTERM.
//!
//! Owns the demo directory layout (see [`Layout`]); it never touches files
//! outside it, and only clears a directory that an earlier demo marked as its own.
use clap::Args;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use super::push::PushArgs;
use crate::logging::user_error;
use crate::origin::config::Config;
use crate::origin::mirrors::{Mirror, PushMethod};
use crate::origin::server::Listeners;

/// The file that marks a directory as made by `hotpush demo`.
pub const MARKER: &str = ".hotpush-demo";
/// The line printed on stdout once everything is up and the sample is live.
pub const READY_LINE: &str = "hotpush demo: ready";
/// The sample advisory.
pub const ADVISORY: &str = "DEMO-2026-0001";
/// The release the demo serves (`--releasever`).
pub const RELEASE: &str = "43";
/// Fixed build time of the sample package (2026-01-01T00:00:00Z): same bytes each run.
const SAMPLE_SOURCE_DATE_SECS: u32 = 1_767_225_600;
/// How long the sample push may take to reach both partners.
const PUSH_TIMEOUT_SECS: u64 = 120;
/// How long the origin may take to close its connections at the end.
const SHUTDOWN_SECS: u64 = 5;
/// The partners are `partner-a` and `partner-b`.
const PARTNER_SUFFIXES: [char; 2] = ['a', 'b'];

fn partner_names() -> Vec<String> {
    PARTNER_SUFFIXES
        .iter()
        .map(|c| format!("partner-{c}"))
        .collect()
}

/// Where everything lives inside the demo directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
    pub fn config(&self) -> PathBuf {
        self.p("hotpush.toml")
    }
    pub fn mirrors(&self) -> PathBuf {
        self.p("mirrors.toml")
    }
    pub fn origin_data(&self) -> PathBuf {
        self.p("origin")
    }
    pub fn keys(&self) -> PathBuf {
        self.p("keys")
    }
    pub fn package_public_key(&self) -> PathBuf {
        self.p("keys/RPM-GPG-KEY-hotpush-demo.asc")
    }
    pub fn package_secret_key(&self) -> PathBuf {
        self.p("keys/package-signing.key")
    }
    pub fn rpms(&self) -> PathBuf {
        self.p("rpms")
    }
    pub fn partner(&self, name: &str) -> PathBuf {
        self.p(name)
    }
    pub fn token(&self) -> PathBuf {
        self.p("demo.token")
    }
    pub fn repos_d(&self) -> PathBuf {
        self.p("repos.d")
    }
    pub fn dnf_conf(&self) -> PathBuf {
        self.p("dnf.conf")
    }
    pub fn client_root(&self) -> PathBuf {
        self.p("client")
    }
    /// Everything the demo creates, cleared when it starts again.
    fn owned(&self) -> Vec<PathBuf> {
        let mut v = vec![
            self.config(),
            self.mirrors(),
            self.origin_data(),
            self.keys(),
            self.rpms(),
            self.token(),
            self.repos_d(),
            self.dnf_conf(),
            self.client_root(),
        ];
        v.extend(partner_names().iter().map(|p| self.partner(p)));
        v
    }
}

/// `hotpush demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let layout = prepare_dir(&args.dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(demo(layout, args.port))?;
    // Receivers still waiting on their listeners end with the runtime.
    rt.shutdown_timeout(Duration::from_secs(SHUTDOWN_SECS));
    eprintln!("hotpush demo: stopped");
    Ok(ExitCode::SUCCESS)
}

/// Creates the directory, or clears what an earlier demo left in it; refuses a
/// non-empty directory that is not a demo's.
fn prepare_dir(dir: &Path) -> anyhow::Result<Layout> {
    let dir =
        std::path::absolute(dir).with_context(|| format!("cannot resolve `{}`", dir.display()))?;
    let layout = Layout { dir: dir.clone() };
    if dir.exists() {
        let empty = fs_err::read_dir(&dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(user_error(
                format!(
                    "`{}` is not empty and was not made by `hotpush demo`",
                    dir.display()
                ),
                "pass an empty or new directory with `--dir DIR`",
            ));
        }
        for path in layout.owned() {
            if path.is_dir() {
                fs_err::remove_dir_all(&path)?;
            } else if path.exists() {
                fs_err::remove_file(&path)?;
            }
        }
    }
    fs_err::create_dir_all(&dir).map_err(|e| {
        user_error(
            format!("cannot create the demo directory: {e}"),
            "pass a writable directory with `--dir DIR`",
        )
    })?;
    fs_err::write(
        dir.join(MARKER),
        "made by `hotpush demo`; it clears this directory's demo files when it starts again\n",
    )?;
    for d in [layout.keys(), layout.rpms(), layout.repos_d()] {
        fs_err::create_dir_all(d)?;
    }
    Ok(layout)
}

/// The sample package: `hello-fix-1.0-2.noarch`, signed with `signer_secret`.
pub fn sample_package(signer_secret: &str) -> anyhow::Result<(String, Vec<u8>)> {
    let signer = rpm::signature::pgp::Signer::from_asc(signer_secret)
        .map_err(|e| anyhow::anyhow!("cannot load the package-signing key: {e}"))?;
    let config = rpm::BuildConfig::v4()
        .source_date(SAMPLE_SOURCE_DATE_SECS)
        .compression(rpm::CompressionType::Gzip);
    let mut builder = rpm::PackageBuilder::new(
        "hello-fix",
        "1.0",
        "MIT",
        "noarch",
        "Sample security fix pushed by hotpush demo",
    );
    builder
        .using_config(config)
        .release("2")
        .description("A sample package that stands in for an urgent security fix.")
        .build_host("hotpush")
        .add_changelog_entry(
            "hotpush demo <demo@hotpush.invalid> - 1.0-2",
            "- Fix CVE-2026-0001 (sample)",
            rpm::Timestamp::from(SAMPLE_SOURCE_DATE_SECS),
        )
        .with_file_contents(
            "hello-fix 1.0-2: this system has the sample security fix.\n",
            rpm::FileOptions::new("/usr/share/hello-fix/README").permissions(0o644),
        )?;
    let package = builder
        .build_and_sign(signer)
        .map_err(|e| anyhow::anyhow!("cannot build the sample package: {e}"))?;
    let mut bytes = Vec::new();
    package
        .write(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot serialise the sample package: {e}"))?;
    Ok(("hello-fix-1.0-2.noarch.rpm".to_owned(), bytes))
}

/// A started receiver.
struct Partner {
    name: String,
    push_url: String,
    public_url: String,
    mirror: Mirror,
    /// Keeps the receiver's listeners serving.
    _running: crate::partner::Running,
}

async fn start_partner(layout: &Layout, name: String) -> anyhow::Result<Partner> {
    let root = layout.partner(&name);
    fs_err::create_dir_all(&root)?;
    let secret_file = root.join("secret");
    crate::io::secret::write_private(
        &secret_file,
        format!("{}\n", crate::origin::auth::new_token()).as_bytes(),
    )?;
    let data_dir = root.join("data");
    let settings = crate::partner::Settings {
        data_dir: data_dir.clone(),
        listen: vec![SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 0))],
        public_listen: vec![SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 0))],
        secret_file: secret_file.clone(),
        tls_cert_file: None,
        tls_key_file: None,
        retention_secs: crate::partner::RETENTION_HOURS_DEFAULT * 3600,
        blob_bytes_max: crate::partner::BLOB_BYTES_MAX_DEFAULT,
        conn: Default::default(),
    };
    let running = crate::partner::start(settings)
        .await
        .with_context(|| format!("cannot start partner `{name}`"))?;
    let (Some(push), Some(public)) = (running.push_addrs.first(), running.public_addrs.first())
    else {
        anyhow::bail!("partner `{name}` has no listener");
    };
    let push_url = format!("https://{push}");
    let public_url = format!("http://{public}/pub");
    let mirror = Mirror {
        name: name.clone(),
        public_url: public_url.clone(),
        method: PushMethod::Https,
        push_url: push_url.clone(),
        secret_file,
        ca_file: Some(data_dir.join("tls/cert.pem")),
        known_hosts_file: None,
        weight: 1,
    };
    Ok(Partner {
        name,
        push_url,
        public_url,
        mirror,
        _running: running,
    })
}

fn toml_path(p: &Path) -> String {
    format!("{:?}", p.display().to_string())
}

fn mirrors_toml(partners: &[Partner]) -> String {
    let mut out = String::from(
        "# Written by `hotpush demo`: its two partners (ports change on every start).\n",
    );
    for p in partners {
        out.push_str(&format!(
            "\n[[mirror]]\nname = \"{}\"\npublic_url = \"{}\"\nmethod = \"https\"\npush_url = \"{}\"\nsecret_file = {}\nca_file = {}\n",
            p.name,
            p.public_url,
            p.push_url,
            toml_path(&p.mirror.secret_file),
            toml_path(p.mirror.ca_file.as_deref().unwrap_or(Path::new(""))),
        ));
    }
    out
}

fn config_toml(layout: &Layout, addr: SocketAddr) -> String {
    let mut arches = vec!["x86_64".to_owned(), "aarch64".to_owned()];
    let host = std::env::consts::ARCH.to_owned();
    if !arches.contains(&host) {
        arches.push(host);
    }
    format!(
        "# Written by `hotpush demo`.\ndata_dir = {}\nlisten = [\"{addr}\"]\npublic_url = \"http://{addr}\"\n\n[repos]\nchannel = \"critical\"\nreleases = [\"{RELEASE}\"]\narches = [{}]\n\n[intake]\ntrusted_keys = [{}]\n\n[publish]\npartner_deadline_secs = 30\n",
        toml_path(&layout.origin_data()),
        arches
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", "),
        toml_path(&layout.package_public_key()),
    )
}

/// Quotes a path for a POSIX shell when it needs it.
fn sh(p: &Path) -> String {
    let s = p.display().to_string();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

async fn demo(layout: Layout, port: u16) -> anyhow::Result<()> {
    // Listen for Ctrl-C/SIGTERM first, so an early signal stops the demo cleanly.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    tokio::pin!(stop);

    // Package-signing key and the signed sample.
    let key = crate::core::signing::RepoKey::generate(
        "hotpush demo package signing <demo@hotpush.invalid>",
    )?;
    crate::io::secret::write_private(
        &layout.package_secret_key(),
        key.armored_secret().as_bytes(),
    )?;
    fs_err::write(layout.package_public_key(), key.armored_public())?;
    let (sample_name, sample) = sample_package(&key.armored_secret())?;
    let sample_path = layout.rpms().join(&sample_name);
    fs_err::write(&sample_path, &sample)?;

    // Partners, then the origin that pushes to them.
    let mut partners = Vec::new();
    for name in partner_names() {
        partners.push(start_partner(&layout, name).await?);
    }
    fs_err::write(layout.mirrors(), mirrors_toml(&partners))?;
    let listeners = Listeners::bind(&[SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], port))])
        .await
        .map_err(|e| {
            user_error(
                format!("cannot listen on `[::1]:{port}`: {e:#}"),
                "pick a free port with `--port P` (0 picks one)",
            )
        })?;
    let addr = listeners.addrs()[0];
    let origin_url = format!("http://{addr}");
    fs_err::write(layout.config(), config_toml(&layout, addr))?;
    let config = Config::load(Some(&layout.config()))?;
    let mirrors: Vec<Mirror> = partners.iter().map(|p| p.mirror.clone()).collect();
    // The same start as `hotpush serve`: publisher, fan-out worker, catch-up, listeners.
    let origin = crate::origin::server::start_on(config, mirrors, listeners).await?;
    let token = crate::origin::auth::new_token();
    origin.app.store.add_token(
        "demo",
        &origin.app.config.auth.push_group,
        &crate::origin::auth::token_digest(&token),
    )?;
    crate::io::secret::write_private(&layout.token(), format!("{token}\n").as_bytes())?;

    // The sample fix through the real API, as `hotpush push` sends it.
    let push = PushArgs {
        server: origin_url.clone(),
        token_file: layout.token(),
        advisory: Some(ADVISORY.to_owned()),
        severity: Some("critical".to_owned()),
        cves: vec!["CVE-2026-0001".to_owned()],
        summary: Some("Sample fix for a hole in hello".to_owned()),
        description:
            "Pushed by `hotpush demo` to show a fix reaching the origin and both partners."
                .to_owned(),
        release: None,
        manifest: None,
        manifest_dir: None,
        no_wait: false,
        timeout_secs: PUSH_TIMEOUT_SECS,
        rpms: vec![sample_path.clone()],
    };
    let pushed = tokio::task::spawn_blocking(move || crate::commands::push::run(&push));
    tokio::select! {
        r = pushed => { r??; }
        _ = &mut stop => return origin.shutdown().await,
    }

    // Client files: the .repo, the -repos RPM and a dnf.conf for an installroot.
    let (status, repo_key, package_keys) = crate::commands::repofile::fetch(&origin_url).await?;
    let repo_text = crate::core::repofile::render(&status, None)?;
    let repo_file = layout.repos_d().join("critical.repo");
    fs_err::write(&repo_file, &repo_text)?;
    // Not after the clock: the rpm crate would stamp the current time instead.
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .saturating_sub(1);
    let source_date_secs = crate::core::reposrpm::newest_revision(&status)
        .map(|r| r.min(now_secs))
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(SAMPLE_SOURCE_DATE_SECS);
    let repos_rpm = crate::core::reposrpm::build(&crate::core::reposrpm::ReposRpm {
        name: "critical-repos",
        version: "1",
        release: "1",
        status: &status,
        pin_release: None,
        repo_key: &repo_key,
        package_keys: &package_keys,
        source_date_secs,
    })?;
    let repos_rpm_path = layout.rpms().join(&repos_rpm.file_name);
    fs_err::write(&repos_rpm_path, &repos_rpm.bytes)?;
    fs_err::write(
        layout.dnf_conf(),
        "[main]\nskip_if_unavailable=False\ninstall_weak_deps=False\n",
    )?;
    fs_err::create_dir_all(layout.client_root())?;

    print_instructions(
        &layout,
        &origin_url,
        &partners,
        &repo_file,
        &repos_rpm_path,
        &key.fingerprint(),
    );
    let served = origin.serve_until(&mut stop).await;
    eprintln!("hotpush demo: stopping");
    // The partners' listeners stop with them.
    drop(partners);
    served
}

fn print_instructions(
    layout: &Layout,
    origin_url: &str,
    partners: &[Partner],
    repo_file: &Path,
    repos_rpm: &Path,
    package_key: &str,
) {
    let dnf = format!(
        "dnf -y --installroot={} --config={} --setopt=reposdir={} --releasever={RELEASE}",
        sh(&layout.client_root()),
        sh(&layout.dnf_conf()),
        sh(&layout.repos_d()),
    );
    let mut out = String::new();
    out.push_str(&format!(
        "hotpush demo: an origin and two partners on loopback, files in {}\n\n",
        sh(&layout.dir)
    ));
    out.push_str(&format!("  dashboard:    {origin_url}/\n"));
    out.push_str(&format!(
        "  origin:       {origin_url}  (config {})\n",
        sh(&layout.config())
    ));
    for p in partners {
        out.push_str(&format!(
            "  {}:    pushes to {}, serves {}\n",
            p.name, p.push_url, p.public_url
        ));
    }
    out.push_str(&format!("  repo file:    {}\n", sh(repo_file)));
    out.push_str(&format!("  -repos RPM:   {}\n", sh(repos_rpm)));
    out.push_str(&format!(
        "  sample fix:   {} ({ADVISORY}), signed by {package_key}\n",
        sh(&layout.rpms().join("hello-fix-1.0-2.noarch.rpm"))
    ));
    out.push_str(&format!("  push token:   {}\n\n", sh(&layout.token())));
    out.push_str(
        "Install the fix with dnf into a throw-away installroot (works on a Debian host):\n",
    );
    out.push_str(&format!("  {dnf} install hello-fix\n"));
    out.push_str(&format!(
        "  rpm --root {} -q hello-fix\n",
        sh(&layout.client_root())
    ));
    out.push_str(&format!("  {dnf} updateinfo list --all\n\n"));
    out.push_str("See what is live where, and push another fix:\n");
    out.push_str(&format!("  hotpush status --server {origin_url}\n"));
    out.push_str(&format!(
        "  hotpush push --server {origin_url} --token-file {} --advisory DEMO-2026-0002 \\\n      --severity important --summary \"...\" PACKAGE.rpm   # signed by the demo key\n",
        sh(&layout.token())
    ));
    out.push_str(&format!(
        "  hotpush doctor --config {} --mirrors {}\n\n",
        sh(&layout.config()),
        sh(&layout.mirrors())
    ));
    out.push_str("Stop with Ctrl-C.\n");
    out.push_str(READY_LINE);
    #[allow(clippy::print_stdout)]
    {
        println!("{out}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its keys, data and client files; default `hotpush-demo`.
    #[arg(long, default_value = "hotpush-demo")]
    pub dir: PathBuf,
    /// Port of the origin on `[::1]`.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
}
