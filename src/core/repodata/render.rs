//! Renders one package's `<package>` blocks for primary, filelists and other,
//! byte for byte as createrepo_c 0.17.3 writes them (2-space indentation, empty
//! string elements as `<x></x>`, each block ending with a newline).
//!
//! Pure: it knows [`Package`] and the XML escaping rules, nothing about files,
//! compression or the order of packages in a repository.

use super::xml::{push_attr, push_text, push_u64};
use crate::core::rpm::{Dependency, FileKind, Package, PackageFile};

/// The three rendered blocks of one package plus what the repository needs to
/// place it (sorting key). Cached by `hotpush createrepo` between runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageXml {
    /// Path relative to the repository root; packages are sorted by its base
    /// name, then by the whole path.
    pub location_href: String,
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

impl PackageXml {
    /// The sort key createrepo_c uses: base name, then full path (byte order).
    pub fn sort_key(&self) -> (&str, &str) {
        let href = self.location_href.as_str();
        let base = href.rsplit('/').next().unwrap_or(href);
        (base, href)
    }

    /// The same blocks, borrowed.
    pub fn blocks(&self) -> PackageBlocks<'_> {
        PackageBlocks {
            location_href: &self.location_href,
            primary: &self.primary,
            filelists: &self.filelists,
            other: &self.other,
        }
    }
}

/// [`PackageXml`] borrowed, e.g. straight from the record cache's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageBlocks<'a> {
    pub location_href: &'a str,
    pub primary: &'a str,
    pub filelists: &'a str,
    pub other: &'a str,
}

impl<'a> PackageBlocks<'a> {
    /// The sort key createrepo_c uses: base name, then full path (byte order).
    pub fn sort_key(&self) -> (&'a str, &'a str) {
        let href = self.location_href;
        let base = href.rsplit('/').next().unwrap_or(href);
        (base, href)
    }
}

/// Renders the three blocks of one package.
pub fn render_package(p: &Package) -> PackageXml {
    PackageXml {
        location_href: p.location_href.clone(),
        primary: render_primary(p),
        filelists: render_filelists(p),
        other: render_other(p),
    }
}

/// Whether createrepo_c lists `path` in primary.xml (and drops a self file-require on it):
/// under `/etc/`, containing `bin/`, or exactly `/usr/lib/sendmail`.
pub fn is_primary_file(path: &str) -> bool {
    path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail"
}

fn text_element(out: &mut String, indent: &str, tag: &str, value: &str) {
    out.push_str(indent);
    out.push('<');
    out.push_str(tag);
    out.push('>');
    push_text(out, value);
    out.push_str("</");
    out.push_str(tag);
    out.push_str(">\n");
}

fn push_version(out: &mut String, p: &Package) {
    out.push_str("<version epoch=\"");
    push_attr(out, &p.epoch);
    out.push_str("\" ver=\"");
    push_attr(out, &p.version);
    out.push_str("\" rel=\"");
    push_attr(out, &p.release);
    out.push_str("\"/>\n");
}

fn push_file(out: &mut String, indent: &str, f: &PackageFile) {
    out.push_str(indent);
    out.push_str(match f.kind {
        FileKind::File => "<file>",
        FileKind::Dir => "<file type=\"dir\">",
        FileKind::Ghost => "<file type=\"ghost\">",
    });
    push_text(out, &f.path);
    out.push_str("</file>\n");
}

fn push_deps(out: &mut String, tag: &str, deps: &[Dependency], with_pre: bool) {
    if deps.is_empty() {
        return;
    }
    out.push_str("    <rpm:");
    out.push_str(tag);
    out.push_str(">\n");
    for d in deps {
        out.push_str("      <rpm:entry name=\"");
        push_attr(out, &d.name);
        out.push('"');
        if let Some(flags) = d.flags {
            out.push_str(" flags=\"");
            out.push_str(flags.as_str());
            out.push('"');
            for (attr, value) in [
                ("epoch", &d.epoch),
                ("ver", &d.version),
                ("rel", &d.release),
            ] {
                if let Some(v) = value {
                    out.push(' ');
                    out.push_str(attr);
                    out.push_str("=\"");
                    push_attr(out, v);
                    out.push('"');
                }
            }
        }
        if with_pre && d.pre {
            out.push_str(" pre=\"1\"");
        }
        out.push_str("/>\n");
    }
    out.push_str("    </rpm:");
    out.push_str(tag);
    out.push_str(">\n");
}

fn render_primary(p: &Package) -> String {
    let mut o = String::with_capacity(2048);
    o.push_str("<package type=\"rpm\">\n");
    text_element(&mut o, "  ", "name", &p.name);
    text_element(&mut o, "  ", "arch", &p.arch);
    o.push_str("  ");
    push_version(&mut o, p);
    o.push_str("  <checksum type=\"sha256\" pkgid=\"YES\">");
    push_text(&mut o, &p.sha256);
    o.push_str("</checksum>\n");
    text_element(&mut o, "  ", "summary", &p.summary);
    text_element(&mut o, "  ", "description", &p.description);
    text_element(&mut o, "  ", "packager", &p.packager);
    text_element(&mut o, "  ", "url", &p.url);
    o.push_str("  <time file=\"");
    push_u64(&mut o, p.time_file);
    o.push_str("\" build=\"");
    push_u64(&mut o, p.time_build);
    o.push_str("\"/>\n  <size package=\"");
    push_u64(&mut o, p.size_package);
    o.push_str("\" installed=\"");
    push_u64(&mut o, p.size_installed);
    o.push_str("\" archive=\"");
    push_u64(&mut o, p.size_archive);
    o.push_str("\"/>\n  <location href=\"");
    push_attr(&mut o, &p.location_href);
    o.push_str("\"/>\n  <format>\n");
    text_element(&mut o, "    ", "rpm:license", &p.license);
    text_element(&mut o, "    ", "rpm:vendor", &p.vendor);
    text_element(&mut o, "    ", "rpm:group", &p.group);
    text_element(&mut o, "    ", "rpm:buildhost", &p.buildhost);
    text_element(&mut o, "    ", "rpm:sourcerpm", &p.sourcerpm);
    o.push_str("    <rpm:header-range start=\"");
    push_u64(&mut o, p.header_start);
    o.push_str("\" end=\"");
    push_u64(&mut o, p.header_end);
    o.push_str("\"/>\n");
    push_deps(&mut o, "provides", &p.provides, false);
    push_deps(&mut o, "requires", &p.requires, true);
    push_deps(&mut o, "conflicts", &p.conflicts, false);
    push_deps(&mut o, "obsoletes", &p.obsoletes, false);
    push_deps(&mut o, "suggests", &p.suggests, false);
    push_deps(&mut o, "enhances", &p.enhances, false);
    push_deps(&mut o, "recommends", &p.recommends, false);
    push_deps(&mut o, "supplements", &p.supplements, false);
    for f in p.files.iter().filter(|f| is_primary_file(&f.path)) {
        push_file(&mut o, "    ", f);
    }
    o.push_str("  </format>\n</package>\n");
    o
}

fn push_short_header(o: &mut String, p: &Package) {
    o.push_str("<package pkgid=\"");
    push_attr(o, &p.sha256);
    o.push_str("\" name=\"");
    push_attr(o, &p.name);
    o.push_str("\" arch=\"");
    push_attr(o, &p.arch);
    o.push_str("\">\n  ");
    push_version(o, p);
}

fn render_filelists(p: &Package) -> String {
    let mut o = String::with_capacity(256 + 64 * p.files.len());
    push_short_header(&mut o, p);
    for f in &p.files {
        push_file(&mut o, "  ", f);
    }
    o.push_str("</package>\n");
    o
}

fn render_other(p: &Package) -> String {
    let mut o = String::with_capacity(512);
    push_short_header(&mut o, p);
    for c in &p.changelogs {
        o.push_str("  <changelog author=\"");
        push_attr(&mut o, &c.author);
        o.push_str("\" date=\"");
        push_u64(&mut o, c.date);
        o.push_str("\">");
        push_text(&mut o, &c.text);
        o.push_str("</changelog>\n");
    }
    o.push_str("</package>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_file_rule() {
        for yes in [
            "/etc/x",
            "/usr/bin/x",
            "/usr/sbin/x",
            "/opt/e/sbin/h",
            "/usr/lib/sendmail",
        ] {
            assert!(is_primary_file(yes), "{yes}");
        }
        for no in [
            "/usr/bin",
            "/etc",
            "/usr/libexec/bin-not/x",
            "/usr/share/x",
            "empty.spec",
        ] {
            assert!(!is_primary_file(no), "{no}");
        }
    }
}
