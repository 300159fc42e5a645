//! Crafting RPM bytes for hostile-input tests: split a real package into lead,
//! signature header, main header and payload; edit header entries (tags, types,
//! offsets, counts, string values); put it back together; and sign the edited
//! main header with a test key the way rpmsign does for v4 (a detached OpenPGP
//! signature of the main header in RPMSIGTAG_RSA, with fresh SHA256 and SIZE tags),
//! so a package with a hostile Name or Release can carry a valid signature.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use crate::common::fixtures::Gpg;
use crate::common::support::run_ok;

pub const TYPE_INT32: u32 = 4;
pub const TYPE_INT64: u32 = 5;
pub const TYPE_STRING: u32 = 6;
pub const TYPE_BIN: u32 = 7;

pub const TAG_NAME: u32 = 1000;
pub const TAG_VERSION: u32 = 1001;
pub const TAG_RELEASE: u32 = 1002;
pub const TAG_EPOCH: u32 = 1003;
pub const TAG_ARCH: u32 = 1022;

/// One index entry: tag, type, offset into the data store, count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub tag: u32,
    pub kind: u32,
    pub offset: u32,
    pub count: u32,
}

/// A header structure: its index entries and data store, as in the file.
#[derive(Debug, Clone)]
pub struct Header {
    pub entries: Vec<Entry>,
    pub store: Vec<u8>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

impl Header {
    /// Reads the header starting at `at`; returns it and its length in bytes.
    fn read(bytes: &[u8], at: usize) -> (Header, usize) {
        assert_eq!(bytes[at..at + 4], [0x8e, 0xad, 0xe8, 0x01], "header magic");
        let n = be32(bytes, at + 8) as usize;
        let data = be32(bytes, at + 12) as usize;
        let index = at + 16;
        let entries = (0..n)
            .map(|i| {
                let e = index + i * 16;
                Entry {
                    tag: be32(bytes, e),
                    kind: be32(bytes, e + 4),
                    offset: be32(bytes, e + 8),
                    count: be32(bytes, e + 12),
                }
            })
            .collect();
        let store_at = index + n * 16;
        let store = bytes[store_at..store_at + data].to_vec();
        (Header { entries, store }, 16 + n * 16 + data)
    }

    /// The header as it goes into a file (preamble, index, store).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
        out.extend((self.entries.len() as u32).to_be_bytes());
        out.extend((self.store.len() as u32).to_be_bytes());
        for e in &self.entries {
            for v in [e.tag, e.kind, e.offset, e.count] {
                out.extend(v.to_be_bytes());
            }
        }
        out.extend(&self.store);
        out
    }

    pub fn position(&self, tag: u32) -> usize {
        self.entries
            .iter()
            .position(|e| e.tag == tag)
            .unwrap_or_else(|| panic!("no tag {tag}"))
    }

    /// Appends data for a new or moved entry at `align`, returns its offset.
    fn append(&mut self, data: &[u8], align: usize) -> u32 {
        while !self.store.len().is_multiple_of(align) {
            self.store.push(0);
        }
        let offset = self.store.len() as u32;
        self.store.extend_from_slice(data);
        offset
    }

    /// Points `tag` (which must exist) at a new string value appended to the store.
    pub fn set_string(&mut self, tag: u32, value: &[u8]) {
        let mut data = value.to_vec();
        data.push(0);
        let offset = self.append(&data, 1);
        let i = self.position(tag);
        self.entries[i] = Entry {
            tag,
            kind: TYPE_STRING,
            offset,
            count: 1,
        };
    }

    /// Adds or replaces `tag` as one INT32 or INT64 value.
    pub fn set_number(&mut self, tag: u32, kind: u32, value: u64) {
        let offset = match kind {
            TYPE_INT32 => self.append(&(value as u32).to_be_bytes(), 4),
            TYPE_INT64 => self.append(&value.to_be_bytes(), 8),
            other => panic!("not a number type: {other}"),
        };
        let entry = Entry {
            tag,
            kind,
            offset,
            count: 1,
        };
        match self.entries.iter().position(|e| e.tag == tag) {
            Some(i) => self.entries[i] = entry,
            None => self.entries.push(entry),
        }
    }

    /// Adds a second entry for `tag` with a string value of its own.
    pub fn duplicate_string(&mut self, tag: u32, value: &[u8]) {
        let mut data = value.to_vec();
        data.push(0);
        let offset = self.append(&data, 1);
        self.entries.push(Entry {
            tag,
            kind: TYPE_STRING,
            offset,
            count: 1,
        });
    }
}

/// A package in parts.
#[derive(Debug, Clone)]
pub struct Rpm {
    pub lead: Vec<u8>,
    pub signature: Header,
    pub main: Header,
    pub payload: Vec<u8>,
}

impl Rpm {
    pub fn parse(bytes: &[u8]) -> Rpm {
        let lead = bytes[..96].to_vec();
        let (signature, sig_len) = Header::read(bytes, 96);
        let main_at = 96 + sig_len + (8 - sig_len % 8) % 8;
        let (main, main_len) = Header::read(bytes, main_at);
        Rpm {
            lead,
            signature,
            main,
            payload: bytes[main_at + main_len..].to_vec(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.lead.clone();
        let sig = self.signature.to_bytes();
        let padding = (8 - sig.len() % 8) % 8;
        out.extend(&sig);
        out.extend(std::iter::repeat_n(0u8, padding));
        out.extend(self.main.to_bytes());
        out.extend(&self.payload);
        out
    }

    /// Replaces the signature header with a v4 one for the current main header:
    /// SHA256 and SIZE, and an OpenPGP signature of the main header by `gpg`
    /// (RPMSIGTAG_RSA, as rpmsign writes it).
    pub fn sign(&mut self, gpg: &Gpg, work: &Path) {
        let main = self.main.to_bytes();
        let unsigned = work.join("header.bin");
        let sig = work.join("header.sig");
        std::fs::write(&unsigned, &main).unwrap();
        let _ = std::fs::remove_file(&sig);
        run_ok(
            Command::new("gpg")
                .arg("--batch")
                .arg("--homedir")
                .arg(&gpg.home)
                .args(["--pinentry-mode", "loopback", "--passphrase", ""])
                .args(["--digest-algo", "sha256", "-u", &gpg.email])
                .arg("--output")
                .arg(&sig)
                .arg("--detach-sign")
                .arg(&unsigned),
        );
        let signature = std::fs::read(&sig).unwrap();
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(&main));
        let mut h = Header {
            entries: Vec::new(),
            store: Vec::new(),
        };
        let mut add = |tag: u32, kind: u32, data: &[u8], count: u32, align: usize| {
            let offset = h.append(data, align);
            h.entries.push(Entry {
                tag,
                kind,
                offset,
                count,
            });
        };
        add(268, TYPE_BIN, &signature, signature.len() as u32, 1);
        add(273, TYPE_STRING, format!("{digest}\0").as_bytes(), 1, 1);
        let size = (main.len() + self.payload.len()) as u32;
        add(1000, TYPE_INT32, &size.to_be_bytes(), 1, 4);
        self.signature = h;
    }
}
