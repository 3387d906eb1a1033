//! `make install` and `make uninstall`: the installed tree runs as shipped (the installed
//! binary, started detached with no option, finds the installed configuration, whose every
//! directory exists and is writable by its user, and saves and logs an attack); install
//! never builds and refuses a binary built for another prefix; T-Pot's layout; uninstall
//! removes only what it installed unchanged; the installed systemd unit verifies.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// `make -s <args>` in the repository, with none of the caller's make settings (a `make test`
/// around the tests passes its command-line variables down in MAKEFLAGS).
fn make(args: &[&str]) -> Output {
    Command::new("make")
        .current_dir(REPO)
        .arg("-s")
        .args(args)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("make")
}

/// Whether the commands `make install` needs are here (else a skip).
fn have_tools(test: &str) -> bool {
    let ok = have("make") && have("sha256sum");
    if !ok {
        skip(test, "needs make and sha256sum");
    }
    ok
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn make_ok(args: &[&str]) -> String {
    let out = make(args);
    assert!(out.status.success(), "make {args:?} failed:\n{}", text(&out));
    text(&out)
}

/// One `make build` at a time: the tests share its target directory (and so its dependencies).
static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `make build` of a debug binary without optional features in target/install-test, with
/// `layout` (PREFIX=...), copied into directory `to` with its dep-info and its record of the
/// configuration path (last, so that the record is not older than the binary), before another
/// test's build replaces them. Returns the copy.
fn build(to: &Path, layout: &[&str]) -> String {
    let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let target = format!("{REPO}/target/install-test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec![
        "build".to_string(),
        "PROFILE=dev".into(),
        format!("TARGET_DIR={target}"),
        "CARGO_FLAGS=--no-default-features".into(),
        "FEATURES=".into(),
        format!("CARGO={cargo}"),
    ];
    args.extend(layout.iter().map(|s| s.to_string()));
    make_ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    std::fs::create_dir_all(to).unwrap();
    for f in ["honeytrap", "honeytrap.d", "honeytrap.config-path"] {
        std::fs::copy(format!("{target}/debug/{f}"), to.join(f)).unwrap();
    }
    to.join("honeytrap").to_str().unwrap().to_string()
}

/// Every absolute path in a string value of an active (uncommented) line of `conf`.
fn named_paths(conf: &str) -> Vec<PathBuf> {
    conf.lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("//") && !l.starts_with('*') && !l.starts_with("/*"))
        .filter_map(|l| l.split('"').nth(1).filter(|v| v.starts_with('/')).map(PathBuf::from))
        .collect()
}

/// The directory a configured path needs: its parent for a file, else the path itself.
fn needed_dir(p: &Path) -> PathBuf {
    let is_file = p.extension().is_some_and(|e| ["log", "json", "pid", "sql", "conf"].contains(&e.to_str().unwrap()));
    if is_file {
        p.parent().unwrap().to_path_buf()
    } else {
        p.to_path_buf()
    }
}

fn assert_has_line(text: &str, line: &str) {
    assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
}

fn owner(p: &Path) -> (u32, u32) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid())
}

const ATTACK: &[u8] = b"installed as shipped\r\n";

/// Whether `attacks` holds the file of [`ATTACK`] on port 2323.
fn saved_in(attacks: &Path) -> bool {
    std::fs::read_dir(attacks).into_iter().flatten().flatten().any(|e| {
        e.file_name().to_string_lossy().starts_with("from_port_2323-tcp_")
            && std::fs::read(e.path()).is_ok_and(|b| b == ATTACK)
    })
}

/// Attacks port 2323 of the sensor side of `pair` and checks that the attack file appears in
/// `attacks` and the lines in honeytrap.log, attacker.log and attackers.json of `logs`.
fn attack_is_recorded(pair: &Pair, attacks: &Path, logs: &Path) {
    let log = logs.join("honeytrap.log");
    let to = std::net::SocketAddr::from(([10, 77, 0, 1], 2323));
    assert!(attack(&pair.cli, to, ATTACK), "no connection; log:\n{}", read(&log));
    assert!(wait_until(Duration::from_secs(15), || saved_in(attacks)), "no attack file; log:\n{}", read(&log));
    assert!(wait_for_text(&logs.join("attacker.log"), "10.77.0.2:", Duration::from_secs(10)));
    assert!(wait_for_text(&logs.join("attackers.json"), "\"10.77.0.2\"", Duration::from_secs(10)));
    let l = read(&log);
    assert!(l.contains("Handling tcp connection request from 10.77.0.2:"), "{l}");
    assert!(l.contains("22 bytes attack string from 10.77.0.2:"), "{l}");
}

/// For a test that installs and runs the daemon (root, a namespace pair): a scratch directory,
/// the prefix `sub` in it, and that as a string; None (after a skip) when it cannot run here.
fn scratch_for_a_run(test: &str, sub: &str) -> Option<(TempDir, PathBuf, String)> {
    if !root_or_skip(test, &["make", "ip", "iptables", "sha256sum"]) {
        return None;
    }
    let d = TempDir::new("install-run");
    let prefix = d.join(sub);
    let p = prefix.to_str().unwrap().to_string();
    Some((d, prefix, p))
}

#[test]
fn installed_as_shipped_runs_detached() {
    let Some((d, prefix, p)) = scratch_for_a_run("installed_as_shipped_runs_detached", "p") else { return };
    let layout = format!("PREFIX={p}");
    let bin = build(&d.join("build"), &[&layout]);
    let bin_arg = format!("BIN={bin}");

    // A binary built for one prefix is not installed under another.
    let other = d.join("other");
    let out = make(&["install", &bin_arg, &format!("PREFIX={}", other.display())]);
    assert!(!out.status.success());
    let msg = format!(
        "reads {p}/etc/honeytrap/honeytrap.conf when no -C is given, but this install puts the configuration in {}/etc/honeytrap/honeytrap.conf: run `make` with the same PREFIX",
        other.display()
    );
    assert!(text(&out).contains(&msg), "{}", text(&out));
    assert!(!other.exists(), "nothing installed");

    let said = make_ok(&["install", &bin_arg, &layout]);
    assert!(!said.contains("Left "), "{said}");
    // Every directory the installed configuration names exists; those the daemon writes to
    // after dropping its privileges are the configured user's (nobody:nogroup).
    let conf = read(&prefix.join("etc/honeytrap/honeytrap.conf"));
    let dirs: Vec<PathBuf> = named_paths(&conf).iter().map(|p| needed_dir(p)).collect();
    assert!(dirs.len() >= 8, "{dirs:?}");
    for dir in &dirs {
        assert!(dir.starts_with(&prefix), "{} outside the prefix", dir.display());
        assert!(dir.is_dir(), "{} missing", dir.display());
    }
    for dir in ["var/run/honeytrap", "var/log/honeytrap", "var/lib/honeytrap/attacks", "var/lib/honeytrap/downloads"] {
        assert_eq!(owner(&prefix.join(dir)), (65534, 65534), "{dir}");
    }
    assert_eq!(owner(&prefix.join("etc/honeytrap")), (0, 0));

    // The installed binary, with no option at all, detached, in a namespace whose firewall
    // queues new connections to the nfq monitor of the shipped configuration.
    let pair = Pair::new();
    pair.queue_to_nfq();
    let log = prefix.join("var/log/honeytrap/honeytrap.log");
    let pidfile = prefix.join("var/run/honeytrap/honeytrap.pid");
    let mut running =
        Running::start(Launch::Detached, pair.srv.command(&format!("{p}/sbin/honeytrap")), &log, &pidfile);
    assert_eq!(proc_status(running.pid(), "Uid").unwrap(), "65534\t65534\t65534\t65534");
    let attacks = prefix.join("var/lib/honeytrap/attacks");
    let logs = prefix.join("var/log/honeytrap");
    attack_is_recorded(&pair, &attacks, &logs);

    running.stop(Duration::from_secs(15)).unwrap();
    assert!(!pidfile.exists(), "the daemon removes its pid file (its directory is the run user's)");

    // Uninstall: what install wrote and nobody changed goes; an edited template, the data and
    // the logs stay, and the output says which files were kept.
    let edited = prefix.join("etc/honeytrap/responses/21_tcp");
    std::fs::write(&edited, "220 my banner\r\n").unwrap();
    let said = make_ok(&["uninstall", &layout]);
    assert!(said.contains(&format!("Kept {}: changed since make install.", edited.display())), "{said}");
    assert_eq!(read(&edited), "220 my banner\r\n");
    for gone in [
        "sbin/honeytrap",
        "share/man/man8/honeytrap.8",
        "share/honeytrap",
        "etc/honeytrap/honeytrap.conf",
        "etc/honeytrap/honeytrap.conf.dist",
        "etc/honeytrap/responses/80_tcp",
        "etc/honeytrap/shellcode-signatures.sc",
        "var/run/honeytrap",
    ] {
        assert!(!prefix.join(gone).exists(), "{gone} left behind");
    }
    assert!(saved_in(&attacks), "the saved attack stays");
    assert!(logs.join("attacker.log").is_file() && log.is_file(), "the logs stay");
}

#[test]
fn tpot_layout_and_reinstall() {
    let name = "tpot_layout_and_reinstall";
    if !have_tools(name) {
        return;
    }
    // T-Pot's paths exactly: built for /opt/honeytrap, staged in DESTDIR.
    let d = TempDir::new("install-tpot");
    let bin = build(&d.join("build"), &["PREFIX=/opt/honeytrap"]);
    let dest = format!("DESTDIR={}", d.path().display());
    let bin_arg = format!("BIN={bin}");
    let said = make_ok(&["install-tpot", &dest, &bin_arg]);
    assert!(
        said.contains("DESTDIR is set: directory owners are left to honeytrap.sysusers and honeytrap.tmpfiles"),
        "{said}"
    );
    let root = d.join("opt/honeytrap");
    for f in [
        "sbin/honeytrap",
        "share/man/man8/honeytrap.8",
        "share/man/man5/honeytrap.conf.5",
        "etc/honeytrap/honeytrap.conf",
        "etc/honeytrap/honeytrap.conf.dist",
        "etc/honeytrap/ports.conf",
        "etc/honeytrap/ports.conf.dist",
        "etc/honeytrap/responses/21_tcp",
        "etc/honeytrap/responses/445_tcp",
        "etc/honeytrap/shellcode-signatures.sc",
        "share/honeytrap/honeytrap.init",
        "share/honeytrap/honeytrap.service",
        "share/honeytrap/honeytrap.logrotate",
        "share/honeytrap/honeytrap.sysusers",
        "share/honeytrap/honeytrap.tmpfiles",
    ] {
        assert!(root.join(f).is_file(), "missing {f}");
    }
    for dir in ["var/attacks", "var/downloads", "var/log", "etc/honeytrap/responses"] {
        assert!(root.join(dir).is_dir(), "missing {dir}");
    }
    assert!(d.join("tmp/honeytrap").is_dir(), "pid directory");
    assert!(!root.join("var/lib").exists() && !root.join("var/log/honeytrap").exists());
    let mode = |f: &str| std::fs::metadata(root.join(f)).unwrap().mode() & 0o777;
    assert_eq!(mode("sbin/honeytrap"), 0o755);
    assert_eq!(mode("etc/honeytrap/honeytrap.conf"), 0o644);
    assert_eq!(mode("share/honeytrap/honeytrap.init"), 0o755);

    let conf = read(&root.join("etc/honeytrap/honeytrap.conf"));
    for line in [
        "logfile = \"/opt/honeytrap/var/log/honeytrap.log\"",
        "pidfile = \"/tmp/honeytrap/honeytrap.pid\"",
        "response_dir = \"/opt/honeytrap/etc/honeytrap/responses\"",
        "    attacks_dir   = \"/opt/honeytrap/var/attacks\"",
        "    downloads_dir = \"/opt/honeytrap/var/downloads\"",
        "    logfile = \"/opt/honeytrap/var/log/attacker.log\"",
        "    logfile = \"/opt/honeytrap/var/log/attackers.json\"",
        "user  = \"honeytrap\"",
        "group = \"honeytrap\"",
    ] {
        assert_has_line(&conf, line);
    }
    for ph in ["@SBINDIR@", "@SYSCONFDIR@", "@LOCALSTATEDIR@", "@DATADIR@", "@LOGDIR@", "@RUNDIR@"] {
        assert!(!conf.contains(ph), "unsubstituted {ph} in honeytrap.conf");
    }
    let init = read(&root.join("share/honeytrap/honeytrap.init"));
    for line in [
        "DAEMON=/opt/honeytrap/sbin/honeytrap",
        "CONF=/opt/honeytrap/etc/honeytrap/honeytrap.conf",
        "PIDFILE=/tmp/honeytrap/honeytrap.pid",
        "HT_USER=honeytrap",
        "DATA_DIRS=\"/opt/honeytrap/var/attacks /opt/honeytrap/var/downloads\"",
    ] {
        assert_has_line(&init, line);
    }
    let out = Command::new(root.join("sbin/honeytrap")).arg("-v").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "honeytrap 1.2.0\n");

    // A second install keeps an edited configuration and renews the .dist, keeps an edited
    // response and puts the new one beside it; uninstall keeps both and says so.
    let conf_path = root.join("etc/honeytrap/honeytrap.conf");
    std::fs::write(&conf_path, "// mine\n").unwrap();
    std::fs::write(root.join("etc/honeytrap/honeytrap.conf.dist"), "old").unwrap();
    let response = root.join("etc/honeytrap/responses/21_tcp");
    let shipped = read(&response);
    std::fs::write(&response, "220 mine\r\n").unwrap();
    let said = make_ok(&["install-tpot", &dest, &bin_arg]);
    assert!(said.contains(&format!("Kept {} (exists; the new template is honeytrap.conf.dist)", conf_path.display())));
    let kept = format!("Kept {} (changed since make install; the new version is 21_tcp.dist).", response.display());
    assert!(said.contains(&kept), "{said}");
    assert_eq!(read(&response), "220 mine\r\n");
    assert_eq!(read(&root.join("etc/honeytrap/responses/21_tcp.dist")), shipped);
    assert_eq!(read(&conf_path), "// mine\n");
    assert_eq!(read(&root.join("etc/honeytrap/honeytrap.conf.dist")), conf);
    let said = make_ok(&["uninstall-tpot", &dest]);
    assert!(said.contains(&format!("Kept {}: changed since make install.", conf_path.display())), "{said}");
    assert!(said.contains(&format!("Kept {}: changed since make install.", response.display())), "{said}");
    assert_eq!(read(&conf_path), "// mine\n");
    assert_eq!(read(&response), "220 mine\r\n");
    for gone in [
        "sbin",
        "share",
        "var",
        "etc/honeytrap/responses/21_tcp.dist",
        "etc/honeytrap/responses/80_tcp",
        "etc/honeytrap/ports.conf",
    ] {
        assert!(!root.join(gone).exists(), "{gone} left behind");
    }
    assert!(!d.join("tmp").exists());
}

/// T-Pot's layout in a scratch prefix, run the way T-Pot runs it: in the foreground with
/// T-Pot's options (the user the layout's directories were given to instead of honeytrap,
/// which does not exist here), the nfq monitor on queue 0.
#[test]
fn tpot_layout_runs_with_tpots_command_line() {
    let Some((d, prefix, p)) = scratch_for_a_run("tpot_layout_runs_with_tpots_command_line", "opt/honeytrap") else {
        return;
    };
    let piddir = d.join("tmp/honeytrap");
    let bin = build(&d.join("build"), &[&format!("PREFIX={p}")]);
    let layout = [
        format!("BIN={bin}"),
        format!("TPOT_PREFIX={p}"),
        format!("TPOT_PIDDIR={}", piddir.display()),
        "TPOT_USER=nobody".into(),
        "TPOT_GROUP=nogroup".into(),
    ];
    let args = |target: &'static str| [target].into_iter().chain(layout.iter().map(String::as_str)).collect::<Vec<_>>();
    make_ok(&args("install-tpot"));
    for dir in ["var/attacks", "var/downloads", "var/log"] {
        assert_eq!(owner(&prefix.join(dir)), (65534, 65534), "{dir}");
    }
    assert_eq!(owner(&piddir), (65534, 65534));

    let pair = Pair::new();
    pair.queue_to_nfq();
    let pidfile = piddir.join("honeytrap.pid");
    let mut cmd = pair.srv.command(&format!("{p}/sbin/honeytrap"));
    let conf = format!("{p}/etc/honeytrap/honeytrap.conf");
    let pid = pidfile.to_str().unwrap();
    cmd.args(["-C", &conf, "-P", pid, "-t", "5", "-u", "nobody", "-g", "nogroup"]);
    let mut running = Running::start(Launch::Foreground, cmd, &prefix.join("var/log/honeytrap.log"), &pidfile);
    attack_is_recorded(&pair, &prefix.join("var/attacks"), &prefix.join("var/log"));
    running.stop(Duration::from_secs(15)).unwrap();
    assert!(!pidfile.exists());

    let said = make_ok(&args("uninstall-tpot"));
    assert!(said.contains(&format!("Kept {p}/var/attacks: not empty.")), "{said}");
    assert!(!prefix.join("sbin").exists() && !piddir.exists());
}

/// `make install` never runs cargo: without a binary, with one older than its sources, with
/// one not made by `make`, or made for another configuration path, it stops with what to do
/// and installs nothing; with sudo's PATH (no cargo in it) and a matching binary it installs,
/// the installed systemd unit passes `systemd-analyze verify`, and the installed sysusers and
/// tmpfiles snippets make the user and its directories.
#[test]
fn install_never_builds() {
    let name = "install_never_builds";
    if !have_tools(name) {
        return;
    }
    let d = TempDir::new("install-nobuild");
    let prefix = d.join("p");
    let layout = format!("PREFIX={}", prefix.display());
    let copy = d.join("bin/honeytrap");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    let fails = |bin: &Path, expected: &str| {
        let out = make(&["install", &format!("BIN={}", bin.display()), &layout]);
        assert!(!out.status.success(), "install succeeded with {}", bin.display());
        let said = text(&out);
        assert!(said.contains(expected), "expected {expected:?} in\n{said}");
        assert!(!prefix.exists(), "installed something: {said}");
    };

    fails(
        &d.join("nothing"),
        &format!("{} does not exist: run `make` first (install never builds).", d.join("nothing").display()),
    );

    // Older than a source named by cargo's dep-info file beside it.
    std::fs::copy(BIN, &copy).unwrap();
    let main = format!("{REPO}/src/main.rs");
    std::fs::write(d.join("bin/honeytrap.d"), format!("{}: {main} {REPO}/src/lib.rs\n", copy.display())).unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    std::fs::File::options().write(true).open(&copy).unwrap().set_modified(old).unwrap();
    fails(&copy, &format!("{} is older than {main}: run `make` first (install never builds).", copy.display()));

    // Fresh, but not built by `make`: no record of its configuration path.
    std::fs::File::options().write(true).open(&copy).unwrap().set_modified(std::time::SystemTime::now()).unwrap();
    fails(&copy, "was not built by `make`");

    // Built by `make` for another prefix.
    let record = d.join("bin/honeytrap.config-path");
    std::fs::write(&record, "/elsewhere/etc/honeytrap/honeytrap.conf\n").unwrap();
    fails(
        &copy,
        &format!(
            "reads /elsewhere/etc/honeytrap/honeytrap.conf when no -C is given, but this install puts the configuration in {}/etc/honeytrap/honeytrap.conf",
            prefix.display()
        ),
    );

    // Built by `make` for this prefix: installs, with a PATH that has no cargo.
    std::fs::write(&record, format!("{}/etc/honeytrap/honeytrap.conf\n", prefix.display())).unwrap();
    let out = Command::new("make")
        .current_dir(REPO)
        .args(["-s", "install", &format!("BIN={}", copy.display()), &layout])
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(prefix.join("sbin/honeytrap").is_file());

    // The installed unit, with the installed man page for its Documentation= line.
    if !have("systemd-analyze") {
        skip(name, "systemd-analyze is not installed (Debian package systemd): the unit is not verified");
        return;
    }
    let unit = prefix.join("share/honeytrap/honeytrap.service");
    assert!(read(&unit).contains(&format!("ExecStart={}/sbin/honeytrap -D -C", prefix.display())));
    let verify = |unit: &Path| {
        Command::new("systemd-analyze")
            .arg("verify")
            .arg(unit)
            .env("MANPATH", prefix.join("share/man"))
            .output()
            .unwrap()
    };
    let out = verify(&unit);
    assert!(out.status.success() && text(&out).trim().is_empty(), "systemd-analyze verify:\n{}", text(&out));
    // The check can fail: a unit naming a binary that is not there does not verify.
    let broken = d.join("honeytrap.service");
    std::fs::write(
        &broken,
        read(&unit).replace(&format!("{}/sbin/honeytrap", prefix.display()), "/nonexistent/honeytrap"),
    )
    .unwrap();
    assert!(!verify(&broken).status.success());

    // Steps 2 and 3 of the README's systemd set-up, in a scratch root: systemd-sysusers
    // creates the user, systemd-tmpfiles the directories the daemon writes to, as its own.
    if !have("systemd-sysusers") || !have("systemd-tmpfiles") {
        skip(name, "systemd-sysusers or systemd-tmpfiles is not installed: the snippets are not applied");
        return;
    }
    let root = d.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    for f in ["passwd", "group"] {
        std::fs::write(root.join("etc").join(f), "").unwrap();
    }
    let share = prefix.join("share/honeytrap");
    for (tool, args) in [("systemd-sysusers", vec![]), ("systemd-tmpfiles", vec!["--create"])] {
        let snippet = share.join(if tool == "systemd-sysusers" { "honeytrap.sysusers" } else { "honeytrap.tmpfiles" });
        let out =
            Command::new(tool).arg(format!("--root={}", root.display())).args(args).arg(&snippet).output().unwrap();
        assert!(out.status.success(), "{tool}:\n{}", text(&out));
    }
    let passwd = read(&root.join("etc/passwd"));
    let user = passwd.lines().find(|l| l.starts_with("honeytrap:")).unwrap_or_else(|| panic!("no user:\n{passwd}"));
    let uid: u32 = user.split(':').nth(2).unwrap().parse().unwrap();
    let inside = |dir: &str| root.join(prefix.join(dir).strip_prefix("/").unwrap());
    for dir in ["var/lib/honeytrap/attacks", "var/lib/honeytrap/downloads", "var/log/honeytrap"] {
        let m = std::fs::metadata(inside(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!((m.uid(), m.mode() & 0o7777), (uid, 0o750), "{dir}");
    }
}
