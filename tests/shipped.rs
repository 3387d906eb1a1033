//! Every configuration file the project ships, and the stock files a drop-in must accept (from
//! a folder outside the repository, when it is present), pass `honeytrap --check-config`.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

/// Fills the Makefile's placeholders with directories below `root`.
fn substitute(text: &str, root: &Path) -> String {
    let r = root.display();
    text.replace("@SBINDIR@", &format!("{r}/sbin"))
        .replace("@SYSCONFDIR@", &format!("{r}/etc"))
        .replace("@LOCALSTATEDIR@", &format!("{r}/var"))
        .replace("@LOGDIR@", &format!("{r}/var/log"))
        .replace("@RUNDIR@", &format!("{r}/var/run"))
}

fn check(conf: &Path) -> (i32, String, String) {
    let out = Command::new(BIN).args(["--check-config", "-C", conf.to_str().unwrap()]).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates `dirs` below `root`, writable by everyone (as an installation makes them the
/// run user's).
fn make_dirs(root: &Path, dirs: &[&str]) {
    use std::os::unix::fs::PermissionsExt;
    for dir in dirs {
        let p = root.join(dir);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
}

fn contrib(name: &str) -> String {
    std::fs::read_to_string(format!("{}/contrib/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn shipped_template_checks_ok() {
    let d = TempDir::new("shipped");
    std::fs::create_dir_all(d.join("etc/honeytrap/responses")).unwrap();
    let conf = d.join("honeytrap.conf");
    std::fs::write(&conf, substitute(&contrib("honeytrap.conf.dist"), d.path())).unwrap();
    // Without the directories it names, the check says which and fails.
    let (st, out, err) = check(&conf);
    assert_eq!(st, 1, "{out}{err}");
    assert!(!out.contains("configuration OK"), "{out}");
    for (dir, what) in [("var/run/honeytrap", "pid file"), ("var/log/honeytrap", "logfile")] {
        let line = format!("Error - Unable to open {what} {}/", d.join(dir).display());
        assert!(
            err.contains(&line) && err.contains(&format!("directory {} does not exist.", d.join(dir).display())),
            "{err}"
        );
    }
    let attacks =
        format!("SaveFile - Warning - attacks_dir {} does not exist,", d.join("var/lib/honeytrap/attacks").display());
    assert!(err.contains(&attacks), "{err}");
    make_dirs(
        d.path(),
        &["var/run/honeytrap", "var/log/honeytrap", "var/lib/honeytrap/attacks", "var/lib/honeytrap/downloads"],
    );
    let (st, out, err) = check(&conf);
    assert_eq!(st, 0, "{err}");
    assert!(out.contains("configuration OK"));
    // The only warnings are for plugins this version does not implement yet.
    for line in err.lines() {
        assert!(line.contains("is not implemented yet"), "unexpected warning: {line}");
    }
}

#[test]
fn shipped_ports_include_checks_ok() {
    let d = TempDir::new("shippedports");
    std::fs::create_dir_all(d.join("responses")).unwrap();
    let ports = d.join("ports.conf");
    std::fs::write(&ports, substitute(&contrib("ports.conf.dist"), d.path())).unwrap();
    let conf = d.join("main.conf");
    std::fs::write(
        &conf,
        format!(
            "include = \"{}\"\nresponse_dir = \"{}\"\nportconf_default = \"normal\"\n",
            ports.display(),
            d.join("responses").display()
        ),
    )
    .unwrap();
    let (st, out, err) = check(&conf);
    assert_eq!((st, err.as_str()), (0, ""), "{out}");
}

#[test]
fn built_in_default_configuration_loads_without_warnings() {
    let cfg = honeytrap::config::load_str(
        honeytrap::config::EMBEDDED_CONFIG,
        Path::new("<built-in default>"),
        Path::new("/base"),
    )
    .expect("embedded default loads");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    assert_eq!(cfg.logfile, Path::new("/base/honeytrap-data/honeytrap.log"));
    assert_eq!(cfg.response_dir, Path::new("/base/honeytrap-data/responses"));
    assert_eq!(cfg.monitor, Some(honeytrap::config::MonitorKind::Pcap));
    // Attacks, samples and the logs are kept, and downloads are made, out of the box.
    let names: Vec<&str> = cfg.plugins.iter().map(|p| p.plugin.key_name()).collect();
    for want in
        ["SaveFile", "ftpDownload", "tftpDownload", "httpDownload", "b64Decode", "logAttacker", "logJSON", "logEvents"]
    {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(cfg.plugins.iter().all(|p| p.plugin.implemented()), "{names:?}");
}

#[test]
fn stock_configurations_check_ok_with_paths_moved() {
    let compat = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/compat"));
    let d = TempDir::new("compat");
    let moved = |name: &str| {
        let mut text = std::fs::read_to_string(compat.join(name))
            .unwrap()
            .replace("/opt/honeytrap", d.path().to_str().unwrap())
            .replace("/var/run/", &format!("{}/run/", d.path().display()));
        // T-Pot's user and group `honeytrap` exist only on T-Pot; this machine has nobody.
        if honeytrap::sys::user::user_by_name("honeytrap").unwrap().is_none() {
            text = text
                .replace("user\t= \"honeytrap\"", "user\t= \"nobody\"")
                .replace("group\t= \"honeytrap\"", "group\t= \"nogroup\"");
        }
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    std::fs::create_dir_all(d.join("etc/honeytrap/responses")).unwrap();
    // The directories the daemon writes in, as an installation makes them.
    make_dirs(
        d.path(),
        &["run", "var/log", "var/honeytrap/attacks", "var/honeytrap/downloads", "var/attacks", "var/downloads"],
    );
    for name in ["c-1.1-template.conf", "tpot.conf"] {
        let (st, out, err) = check(&moved(name));
        assert_eq!(st, 0, "{name}: {err}");
        assert!(out.contains("configuration OK"), "{name}");
        for line in err.lines() {
            assert!(line.contains("is not implemented yet"), "{name}: unexpected warning: {line}");
        }
    }
    // ports.conf is an include file: check it through a main file that includes it.
    let ports = moved("c-1.1-ports.conf");
    let main = d.join("main.conf");
    std::fs::write(
        &main,
        format!(
            "include = \"{}\"\nresponse_dir = \"{}/etc/honeytrap/responses\"\n",
            ports.display(),
            d.path().display()
        ),
    )
    .unwrap();
    let (st, _, err) = check(&main);
    assert_eq!((st, err.as_str()), (0, ""));
}

#[test]
fn commented_defaults_in_the_template_are_the_real_defaults() {
    // The keys of our own are shipped commented out with their default value: enabling one
    // unchanged must change nothing.
    let text = contrib("honeytrap.conf.dist");
    // (max_connections has no default value to show: it is commented out with an example.)
    let keys = ["nfq_queue", "response_policy", "max_connections_per_source", "session_limit"];
    let mut enabled = String::new();
    for key in keys {
        let prefix = format!("//{key} = ");
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&prefix)).collect();
        assert_eq!(lines.len(), 1, "honeytrap.conf.dist: one commented {key} line");
        assert!(honeytrap::config::TOP_LEVEL_KEYS.contains(&key), "{key}");
        enabled.push_str(&lines[0][2..]);
        enabled.push('\n');
    }
    let cfg = honeytrap::config::load_str(&enabled, Path::new("t.conf"), Path::new("/")).expect("loads");
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let default = honeytrap::config::Config { source: Path::new("t.conf").into(), ..Default::default() };
    assert_eq!(cfg, default, "{enabled}");
}
