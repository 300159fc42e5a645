//! Tidy checks over the sources, as rust-analyzer's `tidy.rs` does: every file
//! opens with `//!`, and each layer imports only what ARCHITECTURE.md allows.
//! A broken rule fails the test naming the file, the line and the rule.
use std::path::{Path, PathBuf};

/// The top-level files `src/` may hold besides the layer folders.
const TOP_LEVEL_FILES: [&str; 4] = ["lib.rs", "main.rs", "cli.rs", "logging.rs"];
const LAYERS: [&str; 5] = ["core", "io", "origin", "partner", "commands"];

/// Which `crate::` roots a layer may name.
fn allowed_roots(layer: &str) -> &'static [&'static str] {
    match layer {
        "core" => &["core", "logging"],
        "io" => &["core", "io", "logging"],
        "origin" => &["core", "io", "origin", "logging"],
        "partner" => &["core", "io", "partner", "logging"],
        _ => &[
            "core", "io", "origin", "partner", "commands", "cli", "logging",
        ],
    }
}

/// Words that mean I/O, a clock or a runtime; the pure core names none of them
/// outside its tests.
const CORE_FORBIDDEN: [&str; 12] = [
    "std::fs",
    "fs_err",
    "tokio",
    "reqwest",
    "rusqlite",
    "std::net",
    "std::process",
    "SystemTime::now",
    "Instant::now",
    "Utc::now",
    "std::env::var",
    "std::thread::sleep",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text before the file's `#[cfg(test)]` module: tests may do I/O.
fn non_test_part(text: &str) -> &str {
    match text.find("\n#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// Every `crate::ROOT` the text names (in `use` lines and in paths).
fn crate_roots(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let before = rest[..i].chars().last();
            let after = &rest[i + "crate::".len()..];
            let root: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // `$crate::` and `hotpush_crate::` are not ours.
            if !matches!(before, Some(c) if c.is_ascii_alphanumeric() || c == '_' || c == '$') {
                out.push((n + 1, root));
            }
            rest = after;
        }
    }
    out
}

/// Every rule broken under `src`, one line each.
pub fn violations(src: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    for path in &files {
        let rel = path.strip_prefix(src).unwrap();
        let shown = format!("src/{}", rel.display());
        let text = std::fs::read_to_string(path).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!(
                "{shown}: does not open with a `//!` comment saying what it owns"
            ));
        }
        let mut parts = rel.components();
        let first = parts
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let is_top = parts.next().is_none();
        if is_top {
            if !TOP_LEVEL_FILES.contains(&first.as_str()) {
                problems.push(format!(
                    "{shown}: src/ holds only {TOP_LEVEL_FILES:?} and the layer folders {LAYERS:?}"
                ));
            }
            continue;
        }
        if !LAYERS.contains(&first.as_str()) {
            problems.push(format!("{shown}: `{first}` is not a layer {LAYERS:?}"));
            continue;
        }
        let layer = first.as_str();
        let code = non_test_part(&text);
        for (line, root) in crate_roots(code) {
            if !allowed_roots(layer).contains(&root.as_str()) {
                problems.push(format!(
                    "{shown}:{line}: `{layer}` may not import `crate::{root}` (allowed: {:?})",
                    allowed_roots(layer)
                ));
            }
        }
        if matches!(layer, "core" | "io" | "origin" | "partner") {
            for (n, l) in code.lines().enumerate() {
                let l = l.split("//").next().unwrap_or("");
                if l.contains("clap::") || l.contains("use clap") {
                    problems.push(format!(
                        "{shown}:{}: `{layer}` may not use clap: arguments belong to `commands`",
                        n + 1
                    ));
                }
            }
        }
        if layer == "core" {
            for (n, l) in code.lines().enumerate() {
                let l = l.split("//").next().unwrap_or("");
                for word in CORE_FORBIDDEN {
                    if l.contains(word) {
                        problems.push(format!(
                            "{shown}:{}: `core` is pure, but this line names `{word}` (I/O, clock or runtime)",
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn layers_import_only_what_architecture_md_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "{} tidy rule(s) broken (see ARCHITECTURE.md, \"Layers\"):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn tidy_catches_a_broken_rule() {
    // A copy of a small tree with one file of each kind of mistake: the check
    // must name each, so it cannot pass by reading nothing.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for d in ["core", "origin", "partner", "misc"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    std::fs::write(src.join("lib.rs"), "//! lib\n").unwrap();
    std::fs::write(src.join("extra.rs"), "//! stray\n").unwrap();
    std::fs::write(
        src.join("core/a.rs"),
        "//! a\nuse crate::origin::store::Store;\nfn f() { let _ = std::fs::read(\"x\"); }\n",
    )
    .unwrap();
    std::fs::write(src.join("origin/b.rs"), "use crate::partner::Receiver;\n").unwrap();
    std::fs::write(src.join("partner/c.rs"), "//! c\nuse clap::Args;\n").unwrap();
    std::fs::write(src.join("misc/d.rs"), "//! d\n").unwrap();
    let problems = violations(&src);
    let expect = [
        "src/core/a.rs:2: `core` may not import `crate::origin`",
        "src/core/a.rs:3: `core` is pure",
        "src/origin/b.rs: does not open with a `//!`",
        "src/origin/b.rs:1: `origin` may not import `crate::partner`",
        "src/partner/c.rs:2: `partner` may not use clap",
        "src/extra.rs: src/ holds only",
        "src/misc/d.rs: `misc` is not a layer",
    ];
    for e in expect {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "expected a problem starting with {e:?}, got:\n{}",
            problems.join("\n")
        );
    }
    assert_eq!(problems.len(), expect.len(), "{}", problems.join("\n"));
}
