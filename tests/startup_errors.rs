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
