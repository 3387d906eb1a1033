//! Start-up as an operator meets it: the directories the daemon writes in are checked for the
//! user it will run as before anything starts (and by `--check-config`), each problem named
//! with its path; warnings given before the log file is open reach the console and the log;
//! the console lines name the user, group and mode actually used; the built-in configuration
//! passes `--check-config` in any directory.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
/// The run user of these tests, as the console and the warnings name it.
const NOBODY: &str = "user nobody (65534) and group nogroup (65534)";

/// Runs `--check-config` with `args` in `dir`: exit status, stdout, stderr.
fn check_in(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).arg("--check-config").args(args).current_dir(dir).output().expect("runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn the_built_in_configuration_passes_check_config_in_an_empty_directory() {
    if Path::new(honeytrap::config::DEFAULT_CONFIG_FILE).exists() {
        skip(&this_test(), "a configuration file is installed at the default path");
        return;
    }
    let d = TempDir::new("emptycheck");
    let (st, out, err) = check_in(d.path(), &[]);
    assert_eq!(st, Some(0), "{out}{err}");
    assert_eq!(out, "<built-in default>: configuration OK\n");
    assert_eq!(err, "");
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0, "the check creates nothing");
}

#[test]
fn a_missing_pid_or_log_directory_stops_the_start_before_anything_starts() {
    let d = TempDir::new("nodirs");
    let conf = write_config(d.path(), "");
    let c = conf.to_str().unwrap();
    let pid = d.join("no-run/ht.pid");
    let log = d.join("no-log/ht.log");
    for (args, line) in [
        (
            ["-P", pid.to_str().unwrap()],
            format!(
                "  Error - Unable to open pid file {}: directory {} does not exist.",
                pid.display(),
                d.join("no-run").display()
            ),
        ),
        (
            ["-L", log.to_str().unwrap()],
            format!(
                "  Error - Unable to open logfile {}: directory {} does not exist.",
                log.display(),
                d.join("no-log").display()
            ),
        ),
    ] {
        let (st, out, err) = check_in(d.path(), &[&["-C", c][..], &args].concat());
        assert_eq!(st, Some(1), "{args:?}: {err}");
        assert!(!out.contains("configuration OK"), "{out}");
        assert!(err.lines().any(|l| l == line), "{args:?}: {err}");

        // The daemon itself: the same line, status 1, nothing opened or created.
        let out = Command::new(BIN).args(["-D", "-C", c, "-i", "lo"]).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.lines().any(|l| l == line), "{args:?}: {err}");
        assert!(!d.join("honeytrap.log").exists() && !d.join("honeytrap.pid").exists());
    }
}

#[test]
fn directories_the_run_user_cannot_write_are_named_before_start_and_by_check_config() {
    if !root_or_skip(&this_test(), &["ip"]) {
        return;
    }
    let d = TempDir::new("runuser");
    // As `make install` by hand might leave them: root's, mode 0755.
    let run = d.join("run");
    let attacks = d.join("attacks");
    mkdir(&run, 0o755);
    mkdir(&attacks, 0o755);
    mkdir(&d.join("downloads"), 0o777);
    let conf = write_config(
        d.path(),
        &format!(
            "plugin-SaveFile = {{ attacks_dir = \"{}\" downloads_dir = \"{}\" }}",
            attacks.display(),
            d.join("downloads").display()
        ),
    );
    let pid = run.join("ht.pid");
    let args = ["-C", conf.to_str().unwrap(), "-u", "nobody", "-g", "nogroup", "-P", pid.to_str().unwrap()];
    let pid_warning = format!(
        "Warning - The pid file directory {} is not writable by {NOBODY}; the pid file will be emptied, not removed, at exit.",
        run.display()
    );
    let attacks_warning = format!(
        "SaveFile - Warning - attacks_dir {} is not writable by {NOBODY}, attack strings will not be saved until it is.",
        attacks.display()
    );

    let (st, out, err) = check_in(d.path(), &args);
    assert_eq!(st, Some(0), "warnings only: {err}");
    assert!(out.contains("configuration OK"), "{out}");
    for w in [&pid_warning, &attacks_warning] {
        assert_eq!(err.matches(w.as_str()).count(), 1, "{err}");
    }
    assert!(!err.contains("downloads_dir"), "{err}");

    // The daemon says the same before it starts, on the console and (once) in the log.
    let ns = NetNs::new();
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-i", "lo"]).args(args);
    let mut daemon = Daemon::spawn(cmd);
    let log = d.join("honeytrap.log");
    assert!(wait_for_text(&log, "Trapping attacks on device 'lo' via PCAP.", T), "{}", read(&log));
    let (out, err) = daemon.output();
    for w in [&pid_warning, &attacks_warning] {
        assert_eq!(err.matches(&format!("  {w}\n")).count(), 1, "{err}");
        assert_eq!(read(&log).matches(w.as_str()).count(), 1, "{}", read(&log));
    }
    // The start-up lines name the user and group actually used.
    assert!(out.contains("  Servers will run as user nobody (65534).\n"), "{out}");
    assert!(out.contains("  Servers will run as group nogroup (65534).\n"), "{out}");
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
}

#[test]
fn a_configuration_warning_reaches_the_console_and_the_log() {
    if !root_or_skip(&this_test(), &["ip"]) {
        return;
    }
    let d = TempDir::new("earlywarn");
    std::fs::create_dir_all(d.join("responses")).unwrap();
    let conf = d.join("honeytrap.conf");
    // No portconf_default: normal mode is what runs, and what the console says.
    std::fs::write(
        &conf,
        format!(
            "logfile = \"{d}/honeytrap.log\"\npidfile = \"{d}/honeytrap.pid\"\nresponse_dir = \"{d}/responses\"\n\
             plugin-b64Decode = {{ colour = \"blue\" }}\n",
            d = d.path().display()
        ),
    )
    .unwrap();
    let ns = NetNs::new();
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo"]);
    let mut daemon = Daemon::spawn(cmd);
    let log = d.join("honeytrap.log");
    assert!(wait_for_text(&log, "Trapping attacks on device 'lo' via PCAP.", T), "{}", read(&log));
    let (out, err) = daemon.output();
    let warning = "option 'colour' is ignored by plugin";
    let on_console: Vec<&str> = err.lines().filter(|l| l.contains(warning)).collect();
    assert_eq!(on_console.len(), 1, "{err}");
    assert!(on_console[0].starts_with("  Warning - "), "{err}");
    assert_eq!(read(&log).matches(warning).count(), 1, "{}", read(&log));
    assert_eq!(out.matches(warning).count(), 0, "printed once on the console: {out}");
    assert!(out.contains("  Connections will be handled in normal mode by default.\n"), "{out}");
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
}

#[test]
fn the_tpot_configuration_names_its_missing_attacks_directory() {
    let d = TempDir::new("tpotcheck");
    let compat = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/compat/tpot.conf"));
    let text = std::fs::read_to_string(compat)
        .unwrap()
        .replace("/opt/honeytrap", d.path().to_str().unwrap())
        .replace("/var/run/", &format!("{}/run/", d.path().display()))
        .replace("user\t= \"honeytrap\"", "")
        .replace("group\t= \"honeytrap\"", "");
    let conf = d.join("tpot.conf");
    std::fs::write(&conf, text).unwrap();
    for dir in ["etc/honeytrap/responses", "run", "var/log", "var/downloads"] {
        mkdir(&d.join(dir), 0o777);
    }
    let (st, out, err) = check_in(d.path(), &["-C", conf.to_str().unwrap()]);
    assert_eq!(st, Some(0), "{err}");
    assert!(out.contains("configuration OK"), "{out}");
    let warning = format!(
        "  SaveFile - Warning - attacks_dir {} does not exist, attack strings will not be saved until it exists.",
        d.join("var/attacks").display()
    );
    assert_eq!(err.lines().filter(|l| *l == warning).count(), 1, "{err}");
}
