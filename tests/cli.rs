//! Precedence of the command line over the configuration file (honeytrap(8)): `-L -P -u -g -p`
//! win over `logfile pidfile user group promisc`; the rest of the file is kept.

mod common;

use common::*;
use honeytrap::cli::{self, Parsed};
use honeytrap::config;
use std::ffi::OsString;
use std::path::Path;

fn parse(args: &[&str]) -> cli::Options {
    let argv: Vec<OsString> = std::iter::once("honeytrap").chain(args.iter().copied()).map(OsString::from).collect();
    match cli::parse(&argv) {
        Parsed::Run(o) => o,
        other => panic!("{other:?}"),
    }
}

#[test]
fn command_line_beats_configuration_file() {
    let d = TempDir::new("prec");
    let conf = write_config(d.path(), "user = \"root\"\ngroup = \"root\"\npromisc = \"off\"\nread_limit = \"100\"");
    let c = conf.to_str().unwrap();

    let from_file = config::load_config(&parse(&["-C", c]).overrides(), Path::new("/")).unwrap();
    assert_eq!(from_file.logfile, d.join("honeytrap.log"));
    assert_eq!(from_file.user.as_ref().map(|u| u.uid), Some(0));
    assert!(!from_file.promisc);

    let opts = parse(&["-C", c, "-L", "/b.log", "-P", "rel/b.pid", "-u", "nobody", "-g", "nogroup", "-p"]);
    let cfg = config::load_config(&opts.overrides(), Path::new("/base")).unwrap();
    assert_eq!(cfg.logfile, Path::new("/b.log"));
    assert_eq!(cfg.pidfile, Path::new("/base/rel/b.pid"), "relative paths are taken from the start-up directory");
    let u = cfg.user.as_ref().unwrap();
    assert_eq!((u.name.as_str(), u.uid), ("nobody", 65534));
    let g = cfg.group.as_ref().unwrap();
    assert_eq!((g.name.as_str(), g.gid), ("nogroup", 65534));
    assert!(cfg.promisc);
    assert_eq!(cfg.read_limit, 100, "keys without an option keep their file value");
    assert_eq!(config::run_ids(&cfg), Some((65534, 65534)));

    // -u alone keeps the file's group.
    let cfg = config::load_config(&parse(&["-C", c, "-u", "nobody"]).overrides(), Path::new("/")).unwrap();
    assert_eq!(config::run_ids(&cfg), Some((65534, 0)));
}

#[test]
fn configuration_errors_name_file_line_and_column() {
    let d = TempDir::new("errpos");
    let conf = d.join("x.conf");
    for (text, pos, what) in [
        ("logfile = \"/a\"\n  pidfile \"/b\"\n", ":2:11:", "expected '='"),
        ("portconf = { ignore = { protocol = \"tcp\" port = \"70000\" } }\n", ":1:49:", "Invalid port '70000'."),
        ("bogus = \"x\"\n", ":1:1:", "Invalid keyword in configuration file: bogus"),
        ("plugin-Nope = \"\"\n", ":1:1:", "Unable to load plugin htm_Nope.so"),
        ("read_limit = \"0\"\n", ":1:14:", "Read limit must be a positive value."),
    ] {
        std::fs::write(&conf, text).unwrap();
        let e = config::load_config(&parse(&["-C", conf.to_str().unwrap()]).overrides(), Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("{}{pos}", conf.display())), "{text:?}: {e}");
        assert!(e.contains(what), "{text:?}: {e}");
    }
}

#[test]
fn an_address_that_does_not_resolve_fails_the_start_with_one_error_line() {
    if !root_or_skip("an_address_that_does_not_resolve_fails_the_start_with_one_error_line", &["ip"]) {
        return;
    }
    // A namespace with only `lo`: the name lookup fails without sending anything anywhere.
    let ns = NetNs::new();
    let d = TempDir::new("badaddr");
    let conf = write_config(d.path(), "");
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo", "-a", "bad.invalid"]);
    let mut daemon = Daemon::spawn(cmd);
    let status = daemon.wait(std::time::Duration::from_secs(30)).expect("exits");
    assert_eq!(status.code(), Some(1));
    let err = daemon.stderr.text();
    assert_eq!(
        err.lines().filter(|l| l.contains("Error")).collect::<Vec<_>>(),
        ["  Error - Invalid hostname or ip address"]
    );
    let log = read(&d.join("honeytrap.log"));
    assert_eq!(log.matches("Error - Invalid hostname or ip address").count(), 1, "{log}");
    assert!(!log.contains("Error - Error"), "{log}");
}

/// Runs the binary with `args` (nothing to start: every case ends in the parser) and returns
/// its exit status, standard output and standard error.
fn run_bin(args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(BIN).args(args).output().expect("runs");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[test]
fn a_command_line_that_cannot_be_run_exits_one_with_the_usage_on_stderr() {
    for (args, first) in [
        (&["-x"][..], "honeytrap: invalid option -- 'x'"),
        (&["--bogus"], "honeytrap: unrecognized option '--bogus'"),
        (&["-C"], "honeytrap: option requires an argument -- 'C'"),
        (&["-t", "abc"], "  Error - Log level must be a value between 0 and 6."),
        (&["-t", "7"], "  Error - Log level must be a value between 0 and 6."),
        (&["-l", "12abc"], "  Error - Listen timeout must be a value between 0 and 255."),
        (&["-l", "256"], "  Error - Listen timeout must be a value between 0 and 255."),
        (&["-r", "x"], "  Error - Read timeout must be a value between 0 and 255."),
        (&["-mq"], "honeytrap: invalid option -- 'q'"),
    ] {
        let (st, out, err) = run_bin(args);
        assert_eq!(st, Some(1), "{args:?}: {err}");
        assert_eq!(out, "", "{args:?}");
        let mut lines = err.lines();
        assert_eq!(lines.next(), Some(first), "{args:?}: {err}");
        assert!(lines.next().is_some_and(|l| l.starts_with("Usage: ")), "{args:?}: {err}");
    }
}

#[test]
fn help_and_version_still_exit_zero_on_stdout() {
    for args in [&["-h"][..], &["-?"]] {
        let (st, out, err) = run_bin(args);
        assert_eq!((st, err.as_str()), (Some(0), ""), "{args:?}");
        assert!(out.starts_with("Usage: "), "{args:?}: {out}");
    }
    let (st, out, _) = run_bin(&["-v"]);
    assert_eq!(st, Some(0));
    assert!(out.starts_with("honeytrap "), "{out}");
}
