//! The one repomd.xml reader: the `<data>` records (type, location, checksum,
//! size) that the publisher checks against disk, `hotpush verify` checks over
//! HTTP, and the fan-out and retirement watcher read from other hosts.
use anyhow::Context as _;
use quick_xml::events::Event;
use quick_xml::Reader;

/// A repomd.xml naming more files than this is not ours.
pub const REPOMD_FILES_MAX: usize = 64;

/// One `<data>` record of repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepomdEntry {
    pub kind: String,
    pub href: String,
    /// `sha256` or `sha512`.
    pub checksum_type: String,
    /// Lower-case hex.
    pub checksum: String,
    pub size: u64,
}

/// The `<data>` records of a repomd.xml: type, location, checksum and size.
pub fn parse_repomd(bytes: &[u8]) -> anyhow::Result<Vec<RepomdEntry>> {
    let text = std::str::from_utf8(bytes).context("repomd.xml is not UTF-8")?;
    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    let mut current: Option<PartialEntry> = None;
    let mut path: Vec<String> = Vec::new();
    let mut text_buf = String::new();
    let mut saw_repomd = false;
    loop {
        let event = reader.read_event().context("malformed repomd.xml")?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "repomd" {
                        anyhow::bail!("the root element is `<{name}>`, not `<repomd>`");
                    }
                    saw_repomd = true;
                }
                text_buf.clear();
                let attr = |key: &str| -> anyhow::Result<Option<String>> {
                    for a in e.attributes() {
                        let a = a.context("malformed attribute in repomd.xml")?;
                        if a.key.as_ref() == key.as_bytes() {
                            return Ok(Some(a.unescape_value()?.into_owned()));
                        }
                    }
                    Ok(None)
                };
                match name.as_str() {
                    "data" if path.len() == 1 => {
                        let kind = attr("type")?.context("a `<data>` has no `type`")?;
                        current = Some(PartialEntry {
                            kind,
                            ..PartialEntry::default()
                        });
                    }
                    "location" if current.is_some() => {
                        if attr("xml:base")?.is_some() {
                            anyhow::bail!("`<location xml:base=…>` is not supported");
                        }
                        let href = attr("href")?.context("a `<location>` has no `href`")?;
                        if let Some(c) = current.as_mut() {
                            c.href = Some(href);
                        }
                    }
                    "checksum" if current.is_some() => {
                        let kind = attr("type")?.context("a `<checksum>` has no `type`")?;
                        if let Some(c) = current.as_mut() {
                            c.checksum_type = Some(kind);
                        }
                    }
                    _ => {}
                }
                if !is_empty {
                    path.push(name);
                }
            }
            Event::Text(t) => text_buf.push_str(&t.xml_content()?),
            Event::GeneralRef(r) => {
                let name = r.decode()?;
                text_buf.push_str(match name.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => anyhow::bail!("unknown entity `&{other};` in repomd.xml"),
                });
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                let value = text_buf.trim().to_owned();
                text_buf.clear();
                match name.as_str() {
                    "checksum" if path.len() == 2 => {
                        if let Some(c) = current.as_mut() {
                            c.checksum = Some(value.to_ascii_lowercase());
                        }
                    }
                    "size" if path.len() == 2 => {
                        let size = value
                            .parse::<u64>()
                            .with_context(|| format!("`<size>{value}</size>` is not a number"))?;
                        if let Some(c) = current.as_mut() {
                            c.size = Some(size);
                        }
                    }
                    "data" if path.len() == 1 => {
                        let Some(PartialEntry {
                            kind,
                            href,
                            checksum_type: ctype,
                            checksum,
                            size,
                        }) = current.take()
                        else {
                            continue;
                        };
                        let href = href
                            .with_context(|| format!("`<data type=\"{kind}\">` has no location"))?;
                        let checksum_type =
                            ctype.with_context(|| format!("`{kind}` has no checksum"))?;
                        let checksum =
                            checksum.with_context(|| format!("`{kind}` has no checksum"))?;
                        let size = size.with_context(|| format!("`{kind}` has no size"))?;
                        if out.len() == REPOMD_FILES_MAX {
                            anyhow::bail!("repomd.xml names more than {REPOMD_FILES_MAX} files");
                        }
                        out.push(RepomdEntry {
                            kind,
                            href,
                            checksum_type,
                            checksum,
                            size,
                        });
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_repomd {
        anyhow::bail!("not a repomd.xml (no `<repomd>` element)");
    }
    Ok(out)
}

/// A `<data>` record while it is being read.
#[derive(Default)]
struct PartialEntry {
    kind: String,
    href: Option<String>,
    checksum_type: Option<String>,
    checksum: Option<String>,
    size: Option<u64>,
}
