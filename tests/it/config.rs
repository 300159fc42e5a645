//! `hotpush.toml` loading: the embedded defaults, a full file with relative paths,
//! unknown keys, and one test per validation error, each checking that the
//! message names the file and the field and that a `hint:` says what to do.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hotpush::core::repodata::Compression;
use hotpush::logging::UserError;
use hotpush::origin::config::Config;

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("hotpush.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Loads `text` from a file and returns the error message and its hint.
fn load_err(text: &str) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), text);
    let err = Config::load(Some(&path)).expect_err(text);
    let user = err
        .chain()
        .find_map(|e| e.downcast_ref::<UserError>())
        .unwrap_or_else(|| panic!("not a user error (exit 1): {err:#}"));
    let message = format!("{err:#}");
    assert!(
        message.contains(&path.display().to_string()),
        "the file is named: {message}"
    );
    let hint = user.hint.clone().unwrap_or_default();
    assert!(!hint.is_empty(), "a hint for: {message}");
    (message, hint)
}

#[test]
fn no_file_gives_design_defaults_with_data_dir_under_the_current_directory() {
    let config = Config::load(None).unwrap();
    assert_eq!(
        config.data_dir,
        std::env::current_dir().unwrap().join("hotpush-data")
    );
    assert_eq!(
        config.listen,
        vec!["[::]:8080".parse::<SocketAddr>().unwrap()]
    );
    assert_eq!(config.public_url, "http://[::1]:8080");
    assert_eq!(config.retention_hours, 48);
    assert_eq!(config.metalink_repo_prefix, "critical-f");
    assert_eq!(config.repos.channel, "critical");
    assert_eq!(config.repos.releases, ["43"]);
    assert_eq!(config.repos.arches, ["x86_64", "aarch64"]);
    assert!(config.intake.trusted_keys.is_empty());
    assert!(config.intake.require_signed_packages);
    assert_eq!(config.intake.package_bytes_max, 2_147_483_648);
    assert_eq!(config.auth.push_group, "security");
    assert_eq!(config.publish.compression, Compression::Zst);
    assert_eq!(config.metalink.alternates_minutes, 0);
    assert_eq!(config.repo_id("43"), "critical-f43");
    // Default differs from load(None) only by resolving data_dir.
    let default = Config {
        data_dir: config.data_dir.clone(),
        ..Config::default()
    };
    assert_eq!(default, config);
}

#[test]
fn design_example_file_loads_to_the_defaults() {
    // The block from DESIGN.md "Configuration", verbatim.
    let text = r#"
data_dir = "hotpush-data"            # state (SQLite), blobs, keys, published tree
listen = ["[::]:8080"]               # dual-stack
public_url = "http://[::1]:8080"     # how clients reach this origin
retention_hours = 48                 # keep old metadata and packages this long
metalink_repo_prefix = "critical-f"  # metalink repo id = prefix + release

[repos]
channel = "critical"
releases = ["43"]
arches = ["x86_64", "aarch64"]       # plus "source" for src.rpm

[intake]
trusted_keys = []                    # OpenPGP public keys (files) that must have signed every package
require_signed_packages = true
package_bytes_max = 2147483648

[auth]
push_group = "security"
"#;
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), text);
    let config = Config::load(Some(&path)).unwrap();
    let expected = Config {
        data_dir: std::path::absolute(tmp.path())
            .unwrap()
            .join("hotpush-data"),
        ..Config::default()
    };
    assert_eq!(config, expected);
}

#[test]
fn full_file_with_relative_paths_resolved_against_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let etc = tmp.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let path = write(
        &etc,
        r#"
data_dir = "state"
listen = ["[::1]:9000", "127.0.0.1:9001"]
public_url = "https://updates.example.org/critical/"
retention_hours = 72
metalink_repo_prefix = "crit-el"

[repos]
channel = "urgent"
releases = ["9", "10"]
arches = ["x86_64", "source"]

[intake]
trusted_keys = ["keys/dist.asc", "/abs/other.asc"]
require_signed_packages = false
package_bytes_max = 1000

[auth]
push_group = "secteam"

[publish]
compression = "gz"

[metalink]
alternates_minutes = 30
"#,
    );
    let config = Config::load(Some(&path)).unwrap();
    let base = std::path::absolute(&etc).unwrap();
    assert_eq!(config.data_dir, base.join("state"));
    assert_eq!(
        config.listen,
        vec![
            "[::1]:9000".parse::<SocketAddr>().unwrap(),
            "127.0.0.1:9001".parse().unwrap()
        ]
    );
    assert_eq!(config.public_url, "https://updates.example.org/critical");
    assert_eq!(config.retention_hours, 72);
    assert_eq!(config.repos.channel, "urgent");
    assert_eq!(config.repos.releases, ["9", "10"]);
    assert_eq!(config.repos.arches, ["x86_64", "source"]);
    assert_eq!(
        config.intake.trusted_keys,
        [base.join("keys/dist.asc"), PathBuf::from("/abs/other.asc")]
    );
    assert!(!config.intake.require_signed_packages);
    assert_eq!(config.intake.package_bytes_max, 1000);
    assert_eq!(config.auth.push_group, "secteam");
    assert_eq!(config.publish.compression, Compression::Gz);
    assert_eq!(config.metalink.alternates_minutes, 30);
    assert_eq!(config.repo_id("10"), "crit-el10");
    assert_eq!(config.release_of_repo_id("crit-el9"), Some("9"));
}

#[test]
fn unknown_keys_are_named_with_the_file() {
    let (message, hint) = load_err("retention_hour = 48\n");
    assert!(
        message.contains("unknown field `retention_hour`"),
        "{message}"
    );
    assert!(hint.contains("spelling"), "{hint}");

    let (message, _) = load_err("[repos]\nchanels = \"x\"\n");
    assert!(message.contains("`chanels`"), "{message}");

    let (message, _) = load_err("[mirror]\nname = \"a\"\n");
    assert!(message.contains("`mirror`"), "{message}");
}

#[test]
fn syntax_and_type_errors_name_the_file() {
    let (message, _) = load_err("listen = [\"[::]:8080\"\n");
    assert!(message.contains("line"), "{message}");
    let (message, _) = load_err("retention_hours = \"48\"\n");
    assert!(
        message.contains("retention_hours") || message.contains("integer"),
        "{message}"
    );
}

#[test]
fn missing_file_is_a_user_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nope.toml");
    let err = Config::load(Some(&path)).unwrap_err();
    assert!(err.chain().any(|e| e.is::<UserError>()));
    assert!(
        err.to_string().contains("nope.toml") && err.to_string().contains("no such file"),
        "{err}"
    );
}

/// Each invalid value: (file text, field named in the message, words of the reason).
#[test]
fn each_invalid_value_names_its_field() {
    let cases: &[(&str, &str, &str)] = &[
        ("data_dir = \"\"\n", "`data_dir`", "empty"),
        ("listen = []\n", "`listen`", "no address"),
        (
            "listen = [\"localhost:8080\"]\n",
            "`listen[0]`",
            "not an IP address",
        ),
        ("listen = [\"[::1]\"]\n", "`listen[0]`", "not an IP address"),
        (
            "listen = [\"[::1]:1\", \"[::1]:1\"]\n",
            "`listen[1]`",
            "twice",
        ),
        (
            "public_url = \"ftp://h.example\"\n",
            "`public_url`",
            "`http` or `https`",
        ),
        (
            "public_url = \"h.example:8080\"\n",
            "`public_url`",
            "scheme",
        ),
        ("public_url = \"not a url\"\n", "`public_url`", "not a URL"),
        (
            "public_url = \"https://u:p@h.example\"\n",
            "`public_url`",
            "credentials",
        ),
        (
            "public_url = \"https://h.example/?a=1\"\n",
            "`public_url`",
            "query",
        ),
        ("retention_hours = 0\n", "`retention_hours`", "between"),
        ("retention_hours = 100000\n", "`retention_hours`", "between"),
        (
            "metalink_repo_prefix = \"a/b\"\n",
            "`metalink_repo_prefix`",
            "`/`",
        ),
        (
            "metalink_repo_prefix = \"\"\n",
            "`metalink_repo_prefix`",
            "empty",
        ),
        (
            "[repos]\nchannel = \"crit/ical\"\n",
            "`repos.channel`",
            "`/`",
        ),
        (
            "[repos]\nchannel = \"..\"\n",
            "`repos.channel`",
            "not a valid name",
        ),
        ("[repos]\nreleases = []\n", "`repos.releases`", "empty"),
        (
            "[repos]\nreleases = [\"43\", \"43\"]\n",
            "`repos.releases[1]`",
            "twice",
        ),
        (
            "[repos]\nreleases = [\"4 3\"]\n",
            "`repos.releases[0]`",
            "not a valid name",
        ),
        ("[repos]\narches = []\n", "`repos.arches`", "empty"),
        (
            "[repos]\narches = [\"x86/64\"]\n",
            "`repos.arches[0]`",
            "`/`",
        ),
        (
            "[repos]\narches = [\"x86_64\", \"noarch\"]\n",
            "`repos.arches[1]`",
            "noarch",
        ),
        (
            "[repos]\narches = [\"src\"]\n",
            "`repos.arches[0]`",
            "`source`",
        ),
        (
            "[intake]\ntrusted_keys = [\"\"]\n",
            "`intake.trusted_keys`",
            "empty",
        ),
        (
            "[intake]\npackage_bytes_max = 0\n",
            "`intake.package_bytes_max`",
            "no package",
        ),
        ("[auth]\npush_group = \"\"\n", "`auth.push_group`", "empty"),
        (
            "[publish]\ncompression = \"xz\"\n",
            "`publish.compression`",
            "unknown codec",
        ),
        (
            "retention_hours = 1\n[metalink]\nalternates_minutes = 61\n",
            "`metalink.alternates_minutes`",
            "retention",
        ),
    ];
    for (text, field, reason) in cases {
        let (message, _hint) = load_err(text);
        assert!(
            message.contains(field),
            "{text:?}: field {field} not in: {message}"
        );
        assert!(
            message.contains(reason),
            "{text:?}: reason {reason:?} not in: {message}"
        );
    }
}

#[test]
fn source_arch_and_dotted_release_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(
        tmp.path(),
        "[repos]\nreleases = [\"9.4\", \"rawhide\"]\narches = [\"source\"]\n",
    );
    let config = Config::load(Some(&path)).unwrap();
    assert_eq!(config.repos.arches, ["source"]);
    assert_eq!(config.repos.releases, ["9.4", "rawhide"]);
}
