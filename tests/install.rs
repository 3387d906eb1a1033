//! `make install` / `make uninstall` with DESTDIR and PREFIX: the installed tree, the
//! placeholders substituted, and an existing configuration never overwritten.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

fn make(dest: &Path, target: &str, prefix: &str) {
    let st = Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "-s",
            target,
            &format!("DESTDIR={}", dest.display()),
            &format!("PREFIX={prefix}"),
            "BUILD=",
            &format!("BIN={BIN}"),
        ])
        .status()
        .expect("make");
    assert!(st.success(), "make {target} failed");
}

#[test]
fn install_tree_keeps_existing_configuration() {
    if !have("make") {
        skip("install_tree_keeps_existing_configuration", "make is not installed");
        return;
    }
    let d = TempDir::new("install");
    let dest = d.path();
    make(dest, "install", "/opt/honeytrap");
    let root = dest.join("opt/honeytrap");
    for f in [
        "sbin/honeytrap",
        "share/man/man8/honeytrap.8",
        "share/man/man5/honeytrap.conf.5",
        "etc/honeytrap/honeytrap.conf",
        "etc/honeytrap/honeytrap.conf.dist",
        "etc/honeytrap/ports.conf.dist",
        "etc/honeytrap/ports.conf",
        "etc/honeytrap/responses/21_tcp",
        "etc/honeytrap/responses/445_tcp",
        "share/honeytrap/honeytrap.init",
        "share/honeytrap/honeytrap.service",
        "share/honeytrap/honeytrap.logrotate",
    ] {
        assert!(root.join(f).is_file(), "missing {f}");
    }
    for d in ["var/lib/honeytrap/attacks", "var/lib/honeytrap/downloads", "var/log/honeytrap"] {
        assert!(root.join(d).is_dir(), "missing {d}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = |f: &str| std::fs::metadata(root.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("sbin/honeytrap"), 0o755);
    assert_eq!(mode("etc/honeytrap/honeytrap.conf"), 0o644);
    assert_eq!(mode("share/honeytrap/honeytrap.init"), 0o755);

    // Placeholders are substituted with the prefix's paths.
    let conf = read(&root.join("etc/honeytrap/honeytrap.conf"));
    for ph in ["@SBINDIR@", "@SYSCONFDIR@", "@LOCALSTATEDIR@", "@DATADIR@", "@LOGDIR@", "@RUNDIR@"] {
        assert!(!conf.contains(ph), "unsubstituted {ph} in honeytrap.conf");
    }
    assert!(conf.contains("/opt/honeytrap/etc/honeytrap/responses"), "{conf}");
    assert!(conf.contains("/opt/honeytrap/share/honeytrap/honeytrap.sql"), "{conf}");
    for f in ["share/honeytrap/honeytrap.init", "share/honeytrap/honeytrap.service"] {
        let t = read(&root.join(f));
        assert!(!t.contains("@SBINDIR@") && t.contains("/opt/honeytrap/sbin/honeytrap"), "{f}");
    }

    // The installed binary is the one built.
    let out = Command::new(root.join("sbin/honeytrap")).arg("-v").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "honeytrap 1.2.0\n");

    // A second install keeps an edited configuration; the .dist is renewed.
    std::fs::write(root.join("etc/honeytrap/honeytrap.conf"), "// mine\n").unwrap();
    std::fs::write(root.join("etc/honeytrap/honeytrap.conf.dist"), "old").unwrap();
    make(dest, "install", "/opt/honeytrap");
    assert_eq!(read(&root.join("etc/honeytrap/honeytrap.conf")), "// mine\n");
    assert_eq!(read(&root.join("etc/honeytrap/honeytrap.conf.dist")), conf);

    // uninstall removes the program and keeps the configuration.
    make(dest, "uninstall", "/opt/honeytrap");
    assert!(!root.join("sbin/honeytrap").exists());
    assert!(!root.join("share/man/man8/honeytrap.8").exists());
    assert!(!root.join("etc/honeytrap/responses").exists());
    assert!(root.join("etc/honeytrap/honeytrap.conf").exists());
}
