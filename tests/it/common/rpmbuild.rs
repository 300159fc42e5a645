//! Packages built with the real rpmbuild for test roots: a stand-in for the
//! package that provides `/bin/sh`, and any small spec.
use std::path::{Path, PathBuf};
use std::process::Command;

use super::support::{require_tool, run_ok};

/// rpmbuild of a small noarch package from spec lines; returns its path.
pub fn rpmbuild(dir: &Path, name: &str, version: &str, spec_body: &str) -> PathBuf {
    require_tool("rpmbuild");
    let top = dir.join(format!("rpmbuild-{name}-{version}"));
    for d in ["SPECS", "SOURCES", "BUILD", "RPMS", "SRPMS", "BUILDROOT"] {
        std::fs::create_dir_all(top.join(d)).unwrap();
    }
    let spec = top.join("SPECS/p.spec");
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: 1\nSummary: {name}\nLicense: MIT\n\
             BuildArch: noarch\n{spec_body}"
        ),
    )
    .unwrap();
    run_ok(
        Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", top.display()))
            .args(["--quiet", "-bb"])
            .arg(&spec),
    );
    let rpm = dir.join(format!("{name}-{version}-1.noarch.rpm"));
    std::fs::rename(
        top.join(format!("RPMS/noarch/{name}-{version}-1.noarch.rpm")),
        &rpm,
    )
    .unwrap();
    rpm
}

/// A stand-in for the package that provides `/bin/sh` on every installed
/// system (bash): the host's dash and the libraries it needs, so that rpm can
/// run the `-repos` package's scriptlets in the root.
pub fn shell_rpm(dir: &Path) -> PathBuf {
    let out = run_ok(Command::new("ldd").arg("/bin/dash"));
    let libs: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(str::to_owned)
        .collect();
    let mut install = String::from("mkdir -p %{buildroot}/bin\ncp /bin/dash %{buildroot}/bin/sh\n");
    let mut files = String::from("/bin/sh\n");
    for lib in &libs {
        let parent = Path::new(lib).parent().unwrap().display();
        install.push_str(&format!(
            "mkdir -p %{{buildroot}}{parent}\ncp {lib} %{{buildroot}}{lib}\n"
        ));
        files.push_str(&format!("{lib}\n"));
    }
    rpmbuild(
        dir,
        "lastmile-sh",
        "1",
        &format!(
            "AutoReqProv: no\n%define __os_install_post %{{nil}}\n%define debug_package %{{nil}}\n\
             %define _binaries_in_noarch_packages_terminate_build 0\n\
             %description\n/bin/sh for the test roots.\n%install\n{install}%files\n{files}"
        ),
    )
}
