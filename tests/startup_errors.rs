//! Start-up failures print their message once, with one `Error - ` in front (or the output's
//! own `ERROR:` for logJSON), and exit 1: for an output file that cannot be opened (before
//! the log file exists: console only) and for a network output with a bad option (after the
//! log file is open: console and log).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// The lines of `text` that report an error.
fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("Error") || l.contains("ERROR")).collect()
}

/// Runs the daemon in the foreground (in `ns` if given, capturing on its `lo`) with `extra`
/// in its configuration and returns its exit status and standard error.
fn start_in(ns: Option<&NetNs>, d: &TempDir, extra: &str) -> (Option<i32>, String) {
    let conf = write_config(d.path(), extra);
    let mut cmd = ns.map_or_else(|| Command::new(BIN), |ns| ns.command(BIN));
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo"]);
    let mut daemon = Daemon::spawn(cmd);
    let status = daemon.wait(Duration::from_secs(30)).expect("exits");
    (status.code(), daemon.output().1)
}

fn start(d: &TempDir, extra: &str) -> (Option<i32>, String) {
    start_in(None, d, extra)
}

#[test]
fn an_output_file_that_cannot_be_opened_is_one_error_line() {
    let d = TempDir::new("outfile");
    let missing = d.join("no-such-dir");
    let (st, err) = start(&d, &format!("plugin-logAttacker = {{ logfile = \"{}/a.log\" }}", missing.display()));
    assert_eq!(st, Some(1), "{err}");
    assert_eq!(
        error_lines(&err),
        [format!("  Error - Unable to open attacker log file {}/a.log: No such file or directory.", missing.display())]
    );

    let (st, err) = start(&d, &format!("plugin-logJSON = {{ logfile = \"{}/a.json\" }}", missing.display()));
    assert_eq!(st, Some(1), "{err}");
    assert_eq!(
        error_lines(&err),
        [format!("  ERROR: unable to open attacker log file {}/a.json. No such file or directory.", missing.display())]
    );

    let (st, err) = start(&d, &format!("plugin-logEvents = {{ logfile = \"{}/e.json\" }}", missing.display()));
    assert_eq!(st, Some(1), "{err}");
    let want = format!(
        "  Error - logEvents - Unable to open event log file {}/e.json: No such file or directory.",
        missing.display()
    );
    assert_eq!(error_lines(&err), [want.as_str()]);
}

#[test]
fn a_bad_network_output_option_is_one_error_line_on_the_console_and_in_the_log() {
    if !root_or_skip("a_bad_network_output_option_is_one_error_line_on_the_console_and_in_the_log", &["ip"]) {
        return;
    }
    // The network outputs start after the monitor is open: in a namespace of its own (only
    // `lo`), so that nothing is captured anywhere else.
    let ns = NetNs::new();
    let d = TempDir::new("badsyslog");
    let (st, err) = start_in(Some(&ns), &d, "plugin-syslog = { target = \"unix:/nonexistent.sock\" what = \"all\" }");
    assert_eq!(st, Some(1), "{err}");
    let conf = d.join("honeytrap.conf");
    let want = format!("{}:5:1: syslog - what must be log, events or both, not \"all\"", conf.display());
    assert_eq!(error_lines(&err), [format!("  Error - {want}").as_str()], "{err}");
    let log = read(&d.join("honeytrap.log"));
    assert_eq!(log.matches(&format!("Error - {want}")).count(), 1, "{log}");
    assert!(!log.contains("Error - Error"), "{log}");
}

#[test]
fn a_bad_shellcode_signature_file_is_one_error_line_naming_file_line_and_column() {
    let d = TempDir::new("cspm_sigs");
    let sigs = d.join("sigs.sc");
    let conf = |extra: &str| format!("plugin-cspm = {{\n shellcode_sigfile = \"{}\"\n{extra}}}", sigs.display());
    let check = |extra: &str| {
        let c = write_config(d.path(), &conf(extra));
        let out = Command::new(BIN).args(["--check-config", "-C", c.to_str().unwrap()]).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // A statement that is not one.
    std::fs::write(&sigs, "url::a {\n  pattern \"x\";\n  maping (none);\n};\n").unwrap();
    let want = format!("  Error - cspm - {}:3:3: pattern, mapping or flags expected, found 'maping'.", sigs.display());
    let (st, err) = start(&d, &conf(""));
    assert_eq!((st, error_lines(&err)), (Some(1), vec![want.as_str()]), "{err}");
    let (st, err) = check("");
    assert_eq!((st, error_lines(&err)), (Some(1), vec![want.as_str()]), "{err}");
    // A pattern that does not compile: the signature's place.
    std::fs::write(&sigs, "// one\nurl::b {\n  pattern \"(x\";\n};\n").unwrap();
    let (st, err) = start(&d, &conf(""));
    assert_eq!(st, Some(1), "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with(&format!("  Error - cspm - {}:2:1: pattern of url::b does not compile", sigs.display())),
        "{err}"
    );
    // A missing file and a bad follow_connectback.
    std::fs::remove_file(&sigs).unwrap();
    let (st, err) = check("");
    let want = format!(
        "  Error - cspm - Unable to read shellcode signature file {}: No such file or directory.",
        sigs.display()
    );
    assert_eq!((st, error_lines(&err)), (Some(1), vec![want.as_str()]), "{err}");
    std::fs::write(&sigs, "").unwrap();
    let (st, err) = check(" follow_connectback = \"maybe\"\n");
    assert_eq!(st, Some(1), "{err}");
    let want = format!("{}/honeytrap.conf:", d.path().display());
    assert!(
        err.contains(&want) && err.contains(":1: cspm - follow_connectback must be yes or no, not 'maybe'"),
        "{err}"
    );
    // The shipped file loads.
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/shellcode-signatures.sc"), &sigs).unwrap();
    let (st, err) = check(" follow_connectback = \"yes\"\n");
    assert_eq!(st, Some(0), "{err}");
}
