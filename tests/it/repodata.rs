//! The repodata builder against createrepo_c: golden files compared package by
//! package and field by field, determinism, sizes, codecs, repomd.xml integrity
//! and structure (the real `createrepo_c` runs in some of these tests).
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use hotpush::core::repodata::{
    build, Advisory, AdvisoryPackage, Compression, RepoFiles, RepoInput,
};
use hotpush::core::rpm::{ChangelogEntry, DepFlag, Dependency, FileKind, Package, PackageFile};
use quick_xml::events::Event;
use sha2::{Digest, Sha256};

use crate::support::{real_rpms, require_tool, run_ok};

fn golden_dir() -> PathBuf {
    real_rpms().join("expected/createrepo_c-0.17.3")
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(golden_dir().join(name)).expect("golden file")
}

// ---------------------------------------------------------------------------
// A small flattening XML reader: every `<package>` becomes a list of
// (path, value) fields such as `format/rpm:requires/rpm:entry[3]@pre`, so
// that differences can be reported by package and by field.

/// One `<package>` block flattened: field path -> value, in document order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flat {
    pub(crate) fields: Vec<(String, String)>,
}

impl Flat {
    fn get(&self, path: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, path: &str) -> String {
        self.get(path)
            .unwrap_or_else(|| panic!("field `{path}` missing in {:?}", self.fields.first()))
            .to_owned()
    }

    fn map(&self) -> BTreeMap<&str, &str> {
        self.fields
            .iter()
            .map(|(p, v)| (p.as_str(), v.as_str()))
            .collect()
    }

    /// How the package is named in failure messages.
    fn label(&self) -> String {
        self.get("location@href")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "{} ({})",
                    self.get("@name").unwrap_or("?"),
                    self.get("@pkgid").unwrap_or("?")
                )
            })
    }
}

/// Parses a primary/filelists/other document into its root attributes and packages.
/// Empty elements (`<x/>`) are recorded as `path/` so that `<x></x>` and `<x/>`
/// are told apart.
pub(crate) fn flatten(xml: &str) -> (Vec<(String, String)>, Vec<Flat>) {
    let mut f = Flattener::default();
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Eof => break,
            Event::Start(e) => f.open(&e, false),
            Event::Empty(e) => f.open(&e, true),
            Event::End(_) => f.close(false),
            Event::Text(t) => f.text.push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                if let Some(c) = r.resolve_char_ref().unwrap() {
                    f.text.push(c);
                } else {
                    f.text.push(match r.decode().unwrap().as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => panic!("unknown entity {other}"),
                    });
                }
            }
            _ => {}
        }
    }
    (f.root_attrs, f.packages)
}

#[derive(Default)]
struct Flattener {
    root_attrs: Vec<(String, String)>,
    packages: Vec<Flat>,
    /// Open elements below `<package>`: (path segment, child counters, had children).
    stack: Vec<(String, BTreeMap<String, usize>, bool)>,
    text: String,
    /// 0 outside the root, 1 inside the root, 2 inside a package, ...
    depth: usize,
}

impl Flattener {
    fn path(&self, last: &str) -> String {
        let mut parts: Vec<&str> = self.stack.iter().map(|s| s.0.as_str()).collect();
        parts.push(last);
        parts.retain(|p| !p.is_empty());
        parts.join("/")
    }

    fn open(&mut self, e: &quick_xml::events::BytesStart<'_>, empty: bool) {
        let attrs: Vec<(String, String)> = e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect();
        self.text.clear();
        if self.depth == 0 {
            self.root_attrs = attrs;
            self.depth = 1;
            if empty {
                self.depth = 0;
            }
            return;
        }
        let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
        let segment = if self.depth == 1 {
            self.packages.push(Flat::default());
            self.stack.clear();
            String::new()
        } else {
            let parent = self.stack.last_mut().expect("inside a package");
            parent.2 = true;
            let n = parent.1.entry(name.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                name
            } else {
                format!("{name}[{}]", *n - 1)
            }
        };
        let here = self.path(&segment);
        let flat = self.packages.last_mut().unwrap();
        for (k, v) in attrs {
            flat.fields.push((format!("{here}@{k}"), v));
        }
        self.stack.push((segment, BTreeMap::new(), false));
        self.depth += 1;
        if empty {
            self.close(true);
        }
    }

    fn close(&mut self, empty: bool) {
        self.depth -= 1;
        if self.depth == 0 {
            return;
        }
        let (segment, _, had_child) = self.stack.pop().expect("balanced");
        if !had_child && !segment.is_empty() {
            let path = self.path(&segment);
            let value = std::mem::take(&mut self.text);
            let flat = self.packages.last_mut().unwrap();
            if empty {
                flat.fields.push((path + "/", String::new()));
            } else {
                flat.fields.push((path, value));
            }
        }
        self.text.clear();
    }
}

/// The indexed path of the i-th repeated child: `a/b` for 0, `a/b[i]` after.
fn nth(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_owned()
    } else {
        format!("{base}[{i}]")
    }
}

fn deps_of(f: &Flat, list: &str) -> Vec<Dependency> {
    let mut out = Vec::new();
    for i in 0.. {
        let p = nth(&format!("format/rpm:{list}/rpm:entry"), i);
        let Some(name) = f.get(&format!("{p}@name")) else {
            break;
        };
        let flags = f.get(&format!("{p}@flags")).map(|s| match s {
            "LT" => DepFlag::Lt,
            "GT" => DepFlag::Gt,
            "EQ" => DepFlag::Eq,
            "LE" => DepFlag::Le,
            "GE" => DepFlag::Ge,
            other => panic!("flags {other}"),
        });
        let opt = |a: &str| f.get(&format!("{p}@{a}")).map(str::to_owned);
        out.push(Dependency {
            name: name.to_owned(),
            flags,
            epoch: opt("epoch"),
            version: opt("ver"),
            release: opt("rel"),
            pre: f.get(&format!("{p}@pre")) == Some("1"),
        });
    }
    out
}

/// Rebuilds the `Package` records createrepo_c's golden XML describes.
fn packages_from_golden() -> Vec<Package> {
    let (_, primary) = flatten(&golden("primary.xml"));
    let (_, filelists) = flatten(&golden("filelists.xml"));
    let (_, other) = flatten(&golden("other.xml"));
    assert_eq!(primary.len(), filelists.len());
    assert_eq!(primary.len(), other.len());
    primary
        .iter()
        .zip(&filelists)
        .zip(&other)
        .map(|((p, fl), o)| {
            assert_eq!(p.get("checksum"), fl.get("@pkgid"));
            let mut files = Vec::new();
            for i in 0.. {
                let path = nth("file", i);
                let Some(v) = fl.get(&path) else { break };
                let kind = match fl.get(&format!("{path}@type")) {
                    None => FileKind::File,
                    Some("dir") => FileKind::Dir,
                    Some("ghost") => FileKind::Ghost,
                    Some(t) => panic!("file type {t}"),
                };
                files.push(PackageFile {
                    path: v.to_owned(),
                    kind,
                });
            }
            let mut changelogs = Vec::new();
            for i in 0.. {
                let path = nth("changelog", i);
                let Some(text) = o.get(&path) else { break };
                changelogs.push(ChangelogEntry {
                    author: o.req(&format!("{path}@author")),
                    date: o.req(&format!("{path}@date")).parse().unwrap(),
                    text: text.to_owned(),
                });
            }
            let num = |path: &str| p.req(path).parse::<u64>().unwrap();
            Package {
                name: p.req("name"),
                arch: p.req("arch"),
                epoch: p.req("version@epoch"),
                version: p.req("version@ver"),
                release: p.req("version@rel"),
                sha256: p.req("checksum"),
                summary: p.req("summary"),
                description: p.req("description"),
                packager: p.req("packager"),
                url: p.req("url"),
                time_file: num("time@file"),
                time_build: num("time@build"),
                size_package: num("size@package"),
                size_installed: num("size@installed"),
                size_archive: num("size@archive"),
                location_href: p.req("location@href"),
                license: p.req("format/rpm:license"),
                vendor: p.req("format/rpm:vendor"),
                group: p.req("format/rpm:group"),
                buildhost: p.req("format/rpm:buildhost"),
                sourcerpm: p.req("format/rpm:sourcerpm"),
                header_start: num("format/rpm:header-range@start"),
                header_end: num("format/rpm:header-range@end"),
                provides: deps_of(p, "provides"),
                requires: deps_of(p, "requires"),
                conflicts: deps_of(p, "conflicts"),
                obsoletes: deps_of(p, "obsoletes"),
                suggests: deps_of(p, "suggests"),
                enhances: deps_of(p, "enhances"),
                recommends: deps_of(p, "recommends"),
                supplements: deps_of(p, "supplements"),
                files,
                changelogs,
            }
        })
        .collect()
}

pub(crate) fn decompress(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
    } else if name.ends_with(".zst") {
        out = zstd::stream::decode_all(bytes).unwrap();
    } else {
        panic!("unknown suffix: {name}");
    }
    out
}

fn xml_of(files: &RepoFiles, kind: &str) -> String {
    let f = files
        .files
        .iter()
        .find(|f| f.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} record"));
    String::from_utf8(decompress(&f.href, &f.bytes)).unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `<data type>` -> child element name -> (text or href).
fn repomd_records(repomd: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut reader = quick_xml::Reader::from_str(repomd);
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"data" => {
                let ty = e
                    .try_get_attribute("type")
                    .unwrap()
                    .unwrap()
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                out.push((ty, BTreeMap::new()));
            }
            Event::Start(e) => {
                current = Some(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            Event::Empty(e) if e.name().as_ref() == b"location" => {
                let href = e
                    .try_get_attribute("href")
                    .unwrap()
                    .unwrap()
                    .unescape_value()
                    .unwrap()
                    .into_owned();
                out.last_mut().unwrap().1.insert("location".into(), href);
            }
            Event::Text(t) => {
                if let (Some(c), Some(last)) = (&current, out.last_mut()) {
                    last.1.insert(c.clone(), t.decode().unwrap().into_owned());
                }
            }
            Event::End(_) => current = None,
            _ => {}
        }
    }
    out
}

/// Checks every repomd record against the file bytes it names.
pub(crate) fn assert_repomd_consistent(repomd: &str, read: impl Fn(&str) -> Vec<u8>) {
    for (ty, rec) in repomd_records(repomd) {
        let href = &rec["location"];
        let bytes = read(href);
        assert_eq!(rec["checksum"], sha256_hex(&bytes), "{ty}: checksum");
        assert_eq!(rec["size"], bytes.len().to_string(), "{ty}: size");
        assert!(
            href.contains(&format!("/{}-{ty}.xml.", rec["checksum"])),
            "{ty}: href {href} names its checksum"
        );
        let open = decompress(href, &bytes);
        assert_eq!(
            rec["open-checksum"],
            sha256_hex(&open),
            "{ty}: open-checksum"
        );
        assert_eq!(rec["open-size"], open.len().to_string(), "{ty}: open-size");
    }
}

fn sample_advisory(p: &Package) -> Advisory {
    Advisory {
        id: "FEDORA-2026-0001".into(),
        kind: "security".into(),
        severity: "Critical".into(),
        title: "Critical fix & more".into(),
        summary: "Fixes CVE-2026-0001".into(),
        description: "Heap overflow <fixed>.".into(),
        issued: 1_763_726_400,
        updated: 1_763_730_000,
        release_name: "Fedora 43".into(),
        collection: "F43".into(),
        from: "security@example.com".into(),
        cves: vec!["CVE-2026-0001".into(), "CVE-2026-0002".into()],
        packages: vec![AdvisoryPackage {
            name: p.name.clone(),
            epoch: p.epoch.clone(),
            version: p.version.clone(),
            release: p.release.clone(),
            arch: p.arch.clone(),
            src: p.sourcerpm.clone(),
            filename: p.file_name(),
            sha256: p.sha256.clone(),
        }],
    }
}

// ---------------------------------------------------------------------------

/// The renderer alone: the records createrepo_c's golden files describe, fed
/// back (shuffled) through `build`, give the golden bytes exactly. This covers
/// ordering, escaping, empty elements, the primary file subset and the
/// envelopes, independently of the RPM parser.
#[test]
fn renderer_reproduces_golden_xml_byte_for_byte() {
    let mut packages = packages_from_golden();
    assert_eq!(packages.len(), 29);
    packages.reverse();
    packages.rotate_left(7);
    let files = build(&RepoInput {
        packages: &packages,
        advisories: &[],
        revision: 1_700_000_000,
        compression: Compression::Gz,
    });
    for kind in ["primary", "filelists", "other"] {
        let ours = xml_of(&files, kind);
        let want = golden(&format!("{kind}.xml"));
        if ours != want {
            let line = ours.lines().zip(want.lines()).position(|(a, b)| a != b);
            panic!(
                "{kind}.xml differs from createrepo_c's at line {:?}:\n ours: {:?}\n want: {:?}",
                line.map(|l| l + 1),
                line.and_then(|l| ours.lines().nth(l)),
                line.and_then(|l| want.lines().nth(l)),
            );
        }
    }
    // open-checksum and open-size agree with createrepo_c's repomd.xml.
    let golden_md = repomd_records(&golden("repomd.xml"));
    let ours_md = repomd_records(std::str::from_utf8(&files.repomd).unwrap());
    for ((ty_g, g), (ty_o, o)) in golden_md.iter().zip(&ours_md) {
        assert_eq!(ty_g, ty_o);
        assert_eq!(g["open-checksum"], o["open-checksum"], "{ty_g}");
        assert_eq!(g["open-size"], o["open-size"], "{ty_g}");
        assert_eq!(g["timestamp"], o["timestamp"], "{ty_g}");
    }
}

#[test]
fn builds_are_deterministic_and_codecs_agree() {
    let packages = packages_from_golden();
    let advisories = [sample_advisory(&packages[4])];
    let input = |compression| RepoInput {
        packages: &packages,
        advisories: &advisories,
        revision: 1_700_000_123,
        compression,
    };
    let zst = build(&input(Compression::Zst));
    assert_eq!(
        zst,
        build(&input(Compression::Zst)),
        "two builds are byte-identical"
    );
    let mut reordered = packages.clone();
    reordered.reverse();
    let zst_reordered = build(&RepoInput {
        packages: &reordered,
        ..input(Compression::Zst)
    });
    assert_eq!(zst, zst_reordered, "input order does not matter");
    let gz = build(&input(Compression::Gz));
    assert_eq!(gz, build(&input(Compression::Gz)));
    for kind in ["primary", "filelists", "other", "updateinfo"] {
        assert_eq!(
            xml_of(&zst, kind),
            xml_of(&gz, kind),
            "{kind}: gz and zst hold the same XML"
        );
    }
    for (files, suffix) in [(&zst, "zst"), (&gz, "gz")] {
        let kinds: Vec<&str> = files.files.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, ["primary", "filelists", "other", "updateinfo"]);
        for f in &files.files {
            assert!(
                f.href.ends_with(&format!("-{}.xml.{suffix}", f.kind)),
                "{}",
                f.href
            );
            assert_eq!(f.sha256, sha256_hex(&f.bytes));
        }
        let by_href: BTreeMap<&str, &[u8]> = files
            .files
            .iter()
            .map(|f| (f.href.as_str(), &f.bytes[..]))
            .collect();
        assert_repomd_consistent(std::str::from_utf8(&files.repomd).unwrap(), |href| {
            by_href[href].to_vec()
        });
    }
    // gzip header: magic, deflate, no flags (no name), mtime 0, OS 3.
    assert_eq!(
        &gz.files[0].bytes[..10],
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]
    );
}

#[test]
fn no_updateinfo_record_without_advisories() {
    let packages = packages_from_golden();
    let files = build(&RepoInput {
        packages: &packages,
        advisories: &[],
        revision: 5,
        compression: Compression::Zst,
    });
    let kinds: Vec<&str> = files.files.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, ["primary", "filelists", "other"]);
    assert!(!String::from_utf8_lossy(&files.repomd).contains("updateinfo"));
}

#[test]
fn updateinfo_carries_the_advisory() {
    let packages = packages_from_golden();
    let edge = packages.iter().find(|p| p.name == "edge-cases").unwrap();
    let advisories = [sample_advisory(edge)];
    let files = build(&RepoInput {
        packages: &packages,
        advisories: &advisories,
        revision: 5,
        compression: Compression::Zst,
    });
    let xml = xml_of(&files, "updateinfo");
    for needle in [
        "<update from=\"security@example.com\" status=\"stable\" type=\"security\" version=\"1\">",
        "<id>FEDORA-2026-0001</id>",
        "<title>Critical fix &amp; more</title>",
        "<issued date=\"2025-11-21 12:00:00\"/>",
        "<updated date=\"2025-11-21 13:00:00\"/>",
        "<severity>Critical</severity>",
        "<description>Heap overflow &lt;fixed&gt;.</description>",
        "<reference href=\"https://www.cve.org/CVERecord?id=CVE-2026-0002\" id=\"CVE-2026-0002\" type=\"cve\" title=\"CVE-2026-0002\"/>",
        "<collection short=\"F43\">",
        &format!("<package name=\"edge-cases\" version=\"2.5\" release=\"7.fc99\" epoch=\"3\" arch=\"x86_64\" src=\"edge-cases-2.5-7.fc99.src.rpm\">\n          <filename>edge-cases-2.5-7.fc99.x86_64.rpm</filename>\n          <sum type=\"sha256\">{}</sum>", edge.sha256),
    ] {
        assert!(xml.contains(needle), "updateinfo.xml lacks {needle:?}:\n{xml}");
    }
    // It parses as XML and names the advisory once.
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut updates = 0;
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"update" => updates += 1,
            _ => {}
        }
    }
    assert_eq!(updates, 1);
}

#[test]
fn empty_repository_is_small_and_exact() {
    for (compression, limit) in [(Compression::Zst, 1_900usize), (Compression::Gz, 1_925)] {
        let files = build(&RepoInput {
            packages: &[],
            advisories: &[],
            revision: 0,
            compression,
        });
        let total: usize =
            files.files.iter().map(|f| f.bytes.len()).sum::<usize>() + files.repomd.len();
        assert!(
            total < limit,
            "{compression:?}: empty repo is {total} bytes, limit {limit}"
        );
        assert_eq!(
            xml_of(&files, "primary"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"0\">\n</metadata>"
        );
        assert_eq!(
            xml_of(&files, "filelists"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"0\">\n</filelists>"
        );
        assert_eq!(
            xml_of(&files, "other"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"0\">\n</otherdata>"
        );
    }
}

/// Runs the real createrepo_c 0.17.3 on `dir` (no sqlite, fixed revision).
pub(crate) fn run_createrepo_c(dir: &Path, out: &Path) {
    require_tool("createrepo_c");
    std::fs::create_dir_all(out).unwrap();
    run_ok(
        Command::new("createrepo_c")
            .args([
                "-q",
                "--no-database",
                "--workers",
                "1",
                "--revision",
                "1700000000",
                "--set-timestamp-to-revision",
                "-o",
            ])
            .arg(out)
            .arg(dir),
    );
}

/// The shape of repomd.xml (element names, attribute names, record types and
/// the children of each record, in order) without the values.
fn repomd_shape(repomd: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(repomd);
    let mut shape = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Decl(d) => shape.push(format!("decl {:?}", String::from_utf8_lossy(&d))),
            Event::Start(e) | Event::Empty(e) => {
                let mut attrs: Vec<String> = e
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                        let v = a.unescape_value().unwrap();
                        // Keep the values that are part of the structure.
                        if k == "type" || k.starts_with("xmlns") {
                            format!("{k}={v}")
                        } else {
                            k
                        }
                    })
                    .collect();
                attrs.sort();
                shape.push(format!(
                    "<{} {}>",
                    String::from_utf8_lossy(e.name().as_ref()),
                    attrs.join(" ")
                ));
            }
            Event::End(e) => {
                shape.push(format!("</{}>", String::from_utf8_lossy(e.name().as_ref())))
            }
            _ => {}
        }
    }
    shape
}

/// Our repomd.xml for the empty repository against createrepo_c's: same
/// structure and formatting, and the same uncompressed content for the files.
/// (The gz bytes themselves differ: zlib-rs and zlib make different deflate
/// streams at level 6.)
#[test]
fn empty_repomd_matches_createrepo_c() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir_all(&input).unwrap();
    run_createrepo_c(&input, &out);
    let theirs_md = std::fs::read_to_string(out.join("repodata/repomd.xml")).unwrap();
    let ours = build(&RepoInput {
        packages: &[],
        advisories: &[],
        revision: 1_700_000_000,
        compression: Compression::Gz,
    });
    let ours_md = String::from_utf8(ours.repomd.clone()).unwrap();
    assert_eq!(repomd_shape(&ours_md), repomd_shape(&theirs_md));
    // Byte-identical once values are masked: indentation, order, newlines.
    let mask = |s: &str| {
        let mut o = String::new();
        for line in s.lines() {
            let l = if let Some(i) = line.find("sha256\">") {
                format!("{}…", &line[..i])
            } else {
                line.to_owned()
            };
            let l = if let Some(i) = l.find("href=\"repodata/") {
                format!("{}…", &l[..i])
            } else {
                l
            };
            // Compressed sizes differ: flate2's zlib-rs backend emits a different
            // (equally valid) deflate stream than createrepo_c's zlib.
            let l = if let Some(i) = l.find("<size>") {
                format!("{}…", &l[..i])
            } else {
                l
            };
            o.push_str(&l);
            o.push('\n');
        }
        o
    };
    assert_eq!(mask(&ours_md), mask(&theirs_md));
    let theirs = repomd_records(&theirs_md);
    let ours_records = repomd_records(&ours_md);
    for ((ty, t), (_, o)) in theirs.iter().zip(&ours_records) {
        assert_eq!(
            t["open-checksum"], o["open-checksum"],
            "{ty}: open-checksum"
        );
        assert_eq!(t["open-size"], o["open-size"], "{ty}: open-size");
    }
    assert_repomd_consistent(&theirs_md, |href| std::fs::read(out.join(href)).unwrap());
}

/// Copies the golden input (`createrepo_c/`, `rpm-rs/`, `edge-rpms/` as sibling
/// directories) into `dest` with every mtime at 1700000000, as the README of
/// the golden files says.
pub(crate) fn golden_input(dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let real = real_rpms();
    let edge = real.join("../edge-rpms");
    let mut cp = Command::new("cp");
    cp.arg("-r")
        .arg(real.join("createrepo_c"))
        .arg(real.join("rpm-rs"))
        .arg(edge)
        .arg(dest);
    run_ok(&mut cp);
    run_ok(Command::new("chmod").arg("-R").arg("u+w").arg(dest));
    run_ok(Command::new("find").arg(dest).args([
        "-name",
        "*.rpm",
        "-exec",
        "touch",
        "-d",
        "@1700000000",
        "{}",
        "+",
    ]));
}

/// Reads a generated repository: repomd.xml and each record's uncompressed XML.
pub(crate) fn read_repo(root: &Path) -> (String, BTreeMap<String, String>) {
    let repomd = std::fs::read_to_string(root.join("repodata/repomd.xml")).unwrap();
    let mut xml = BTreeMap::new();
    for (ty, rec) in repomd_records(&repomd) {
        let href = &rec["location"];
        let bytes = std::fs::read(root.join(href)).unwrap();
        xml.insert(ty, String::from_utf8(decompress(href, &bytes)).unwrap());
    }
    (repomd, xml)
}

/// A difference from createrepo_c 0.17.3 that we keep on purpose.
struct Expected {
    /// Substring of the package's location (primary) or `name (pkgid)` label.
    package: &'static str,
    /// The field path, e.g. `size@archive`.
    field: &'static str,
    why: &'static str,
}

/// Differences from createrepo_c 0.17.3 that are intended, with the reason.
/// `field` matches as a prefix of the field path.
const EXPECTED_DIFFERENCES: &[Expected] = &[
    Expected {
        package: "createrepo_c/Archer-3.4.5-6.x86_64.rpm",
        field: "format/rpm:requires/rpm:entry[6]@pre",
        why: "createrepo_c 1.x pre semantics: the PRETRANS bit (foog) sets pre=\"1\"; 0.17.3 ignores it",
    },
    Expected {
        package: "createrepo_c/Archer-3.4.5-6.x86_64.rpm",
        field: "format/rpm:requires/rpm:entry[7]@pre",
        why: "createrepo_c 1.x pre semantics: the POSTTRANS bit (fooh) sets pre=\"1\"; 0.17.3 ignores it",
    },
    Expected {
        package: "edge-rpms/edge-cases-2.5-7.fc99.x86_64.rpm",
        field: "format/rpm:requires/",
        why: "createrepo_c 1.x semantics: pretrans/posttrans requires get pre=\"1\", and the plain /bin/sh \
              interpreter require is dropped as a duplicate, shifting the list by one \
              (checked exactly in `edge_cases_requires_follow_createrepo_c_1x`)",
    },
    Expected {
        package: "rpm-rs/v6/",
        field: "size@archive",
        why: "RPM v6 keeps the payload size in main-header tag 5112 (PAYLOADSIZE); createrepo_c 0.17.3 and 1.2.5 \
              do not read it and write 0, we write the real size",
    },
];

/// `hotpush createrepo` on the real RPMs against createrepo_c 0.17.3's golden
/// XML, package by package and field by field. Every difference must be listed
/// in [`EXPECTED_DIFFERENCES`] with its reason, and every listed one must occur.
#[test]
fn real_rpms_match_createrepo_c_field_by_field() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    golden_input(&input);
    run_ok(
        crate::support::hotpush()
            .args([
                "createrepo",
                "--compress",
                "gz",
                "--revision",
                "1700000000",
                "--output",
            ])
            .arg(&out)
            .arg(&input),
    );
    let (repomd, xml) = read_repo(&out);
    assert_repomd_consistent(&repomd, |href| std::fs::read(out.join(href)).unwrap());
    let mut seen = vec![false; EXPECTED_DIFFERENCES.len()];
    let mut unexpected = Vec::new();
    for kind in ["primary", "filelists", "other"] {
        let (want_root, want) = flatten(&golden(&format!("{kind}.xml")));
        let (ours_root, ours) = flatten(&xml[kind]);
        assert_eq!(ours_root, want_root, "{kind}: root attributes");
        assert_eq!(ours.len(), want.len(), "{kind}: package count");
        for (o, w) in ours.iter().zip(&want) {
            let label = w.label();
            let (om, wm) = (o.map(), w.map());
            let fields: std::collections::BTreeSet<&str> =
                om.keys().chain(wm.keys()).copied().collect();
            for field in fields {
                let (got, exp) = (om.get(field), wm.get(field));
                if got == exp {
                    continue;
                }
                match EXPECTED_DIFFERENCES
                    .iter()
                    .position(|e| label.contains(e.package) && field.starts_with(e.field))
                {
                    Some(i) => seen[i] = true,
                    None => unexpected.push(format!(
                        "{kind}.xml, package `{label}`, field `{field}`: createrepo_c {exp:?}, hotpush {got:?}"
                    )),
                }
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "unexpected differences:\n{}",
        unexpected.join("\n")
    );
    for (e, seen) in EXPECTED_DIFFERENCES.iter().zip(seen) {
        assert!(
            seen,
            "expected difference no longer occurs (remove it): {} {} ({})",
            e.package, e.field, e.why
        );
    }
    // Beyond the listed differences, the documents are byte-identical.
    if EXPECTED_DIFFERENCES.is_empty() {
        for kind in ["primary", "filelists", "other"] {
            assert_eq!(
                xml[kind],
                golden(&format!("{kind}.xml")),
                "{kind}.xml bytes"
            );
        }
    }
}

/// For the same packages, our repomd.xml has the structure of createrepo_c's
/// (run here on the same input) and the same open checksums where the XML agrees.
#[test]
fn repomd_structure_matches_createrepo_c_for_real_rpms() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, theirs, ours) = (
        tmp.path().join("in"),
        tmp.path().join("theirs"),
        tmp.path().join("ours"),
    );
    golden_input(&input);
    run_createrepo_c(&input, &theirs);
    run_ok(
        crate::support::hotpush()
            .args([
                "createrepo",
                "--compress",
                "gz",
                "--revision",
                "1700000000",
                "--output",
            ])
            .arg(&ours)
            .arg(&input),
    );
    let (their_md, their_xml) = read_repo(&theirs);
    let (our_md, our_xml) = read_repo(&ours);
    assert_eq!(repomd_shape(&our_md), repomd_shape(&their_md));
    for kind in ["primary", "filelists", "other"] {
        let (_, a) = flatten(&their_xml[kind]);
        let (_, b) = flatten(&our_xml[kind]);
        assert_eq!(a.len(), b.len(), "{kind}: package count");
    }
}

/// The one package whose requires differ as a whole from 0.17.3 gets exactly
/// what createrepo_c 1.x writes: 0.17.3's list without the plain `/bin/sh`
/// and with `pre` on the pretrans/posttrans requires.
#[test]
fn edge_cases_requires_follow_createrepo_c_1x() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in"), tmp.path().join("out"));
    golden_input(&input);
    run_ok(
        crate::support::hotpush()
            .args(["createrepo", "--output"])
            .arg(&out)
            .arg(&input),
    );
    let (_, xml) = read_repo(&out);
    let requires = |doc: &str| -> Vec<Dependency> {
        let (_, packages) = flatten(doc);
        let edge = packages
            .iter()
            .find(|p| p.get("name") == Some("edge-cases"))
            .unwrap();
        deps_of(edge, "requires")
    };
    let mut want = requires(&golden("primary.xml"));
    let plain_sh = want
        .iter()
        .position(|d| d.name == "/bin/sh" && !d.pre)
        .unwrap();
    want.remove(plain_sh);
    for d in &mut want {
        if d.name == "pretrans-dep" || d.name == "posttrans-dep" {
            d.pre = true;
        }
    }
    assert_eq!(requires(&xml["primary"]), want);
}
