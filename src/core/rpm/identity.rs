//! The rules for a package's identity (name, epoch, version, release, arch): the
//! parts that make its NEVRA, its file name `name-version-release.arch.rpm` and
//! its path under `Packages/`. Only values that pass here reach a file name.
//!
//! The character sets are rpmbuild's own (`ALLOWED_CHARS_NAME`,
//! `ALLOWED_CHARS_VERREL`) without the macro characters `%{}`, which only an
//! unexpanded macro leaves behind: a name is letters, digits and `._+-` and starts
//! with a letter, digit or `_`; version and release are letters, digits and
//! `._+~^` (never `-`, which separates them in the NEVRA); an arch is letters,
//! digits and `_`. Lengths: name at most 200 bytes (Fedora's longest names are
//! under 100), version and release at most 128, arch at most 32, and the file name
//! at most 255 bytes, the file-system limit. No part may contain `..`. Pure.

/// The longest name accepted, in bytes.
pub const NAME_BYTES_MAX: usize = 200;
/// The longest version or release accepted, in bytes.
pub const VERREL_BYTES_MAX: usize = 128;
/// The longest arch accepted, in bytes.
pub const ARCH_BYTES_MAX: usize = 32;
/// The longest file name (`name-version-release.arch.rpm`) accepted, in bytes.
pub const FILE_NAME_BYTES_MAX: usize = 255;

/// Checks every part of a package's identity; the error names the field, shows the
/// value escaped and says which rule it breaks.
pub fn check_identity(name: &str, version: &str, release: &str, arch: &str) -> Result<(), String> {
    check_part("name", name, NAME_BYTES_MAX, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-')
    })?;
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "name `{}` must start with a letter, a digit or `_`",
            name.escape_debug()
        ));
    }
    let verrel = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '~' | '^');
    check_part("version", version, VERREL_BYTES_MAX, verrel)?;
    check_part("release", release, VERREL_BYTES_MAX, verrel)?;
    check_part("arch", arch, ARCH_BYTES_MAX, |c| {
        c.is_ascii_alphanumeric() || c == '_'
    })?;
    let file_bytes = name.len() + version.len() + release.len() + arch.len() + ".rpm".len() + 3;
    if file_bytes > FILE_NAME_BYTES_MAX {
        return Err(format!(
            "the file name `{name}-{version}-{release}.{arch}.rpm` would be {file_bytes} bytes (at most {FILE_NAME_BYTES_MAX})"
        ));
    }
    Ok(())
}

fn check_part(
    field: &str,
    value: &str,
    bytes_max: usize,
    allowed: impl Fn(char) -> bool,
) -> Result<(), String> {
    let shown = || {
        let mut s: String = value.chars().take(80).collect::<String>();
        if s.len() < value.len() {
            s.push('…');
        }
        s.escape_debug().to_string()
    };
    if value.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if value.len() > bytes_max {
        return Err(format!(
            "{field} `{}` is {} bytes (at most {bytes_max})",
            shown(),
            value.len()
        ));
    }
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        let what = match bad {
            '/' | '\\' => "a path separator".to_owned(),
            '-' => "`-`, which separates version and release".to_owned(),
            c if c.is_control() => format!("the control character U+{:04X}", c as u32),
            c if c.is_whitespace() => format!("white space U+{:04X}", c as u32),
            c => format!("`{c}`"),
        };
        return Err(format!("{field} `{}` contains {what}", shown()));
    }
    if value.contains("..") {
        return Err(format!("{field} `{}` contains `..`", shown()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_identities_pass() {
        for (n, v, r, a) in [
            ("hello", "1.0", "2", "noarch"),
            ("libstdc++", "14.2.1", "3.fc43", "x86_64"),
            ("gcc-c++", "14.2.1~rc1", "0.1.fc43", "aarch64"),
            ("_internal", "1.0^git20240101.abc", "1.el9_3", "src"),
            ("perl-Test-Simple", "1.302199", "3.fc42", "noarch"),
            ("Rimmer", "1.0.2", "2", "x86_64"),
        ] {
            check_identity(n, v, r, a).unwrap();
        }
    }

    #[test]
    fn hostile_identities_are_refused_with_the_field() {
        let long = "a".repeat(NAME_BYTES_MAX + 1);
        for ((n, v, r, a), field) in [
            (("../etc", "1", "1", "noarch"), "name"),
            (("a/b", "1", "1", "noarch"), "name"),
            (("x\ny", "1", "1", "noarch"), "name"),
            (("x y", "1", "1", "noarch"), "name"),
            (("x\u{1b}[31m", "1", "1", "noarch"), "name"),
            ((".hidden", "1", "1", "noarch"), "name"),
            (("-dash", "1", "1", "noarch"), "name"),
            (("a..b", "1", "1", "noarch"), "name"),
            ((long.as_str(), "1", "1", "noarch"), "name"),
            (("", "1", "1", "noarch"), "name"),
            (("x", "1-2", "1", "noarch"), "version"),
            (("x", "1", "../../x", "noarch"), "release"),
            (("x", "1", "1\n", "noarch"), "release"),
            (("x", "1", "%{dist}", "noarch"), "release"),
            (("x", "1", "1", "x86/64"), "arch"),
            (("x", "1", "1", ""), "arch"),
            (("x", "1", "1", "nöarch"), "arch"),
        ] {
            let e = check_identity(n, v, r, a).unwrap_err();
            assert!(e.starts_with(field), "{n:?} {v:?} {r:?} {a:?}: {e}");
        }
        let e =
            check_identity(&"n".repeat(200), &"v".repeat(30), &"r".repeat(30), "x").unwrap_err();
        assert!(e.contains("file name"), "{e}");
    }
}
