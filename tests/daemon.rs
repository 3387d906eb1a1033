//! Scenario tests of the daemon's life cycle with the real binary: command line,
//! `--check-config`, pid file, SIGHUP reload, SIGTERM exit, detaching, privilege drop. Tests
//! that start the monitor need root and run in a network namespace of their own.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn honeytrap(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().expect("run honeytrap");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_usage_and_bad_options() {
    let (st, out, err) = honeytrap(&["-v"]);
    assert_eq!((st, out.as_str(), err.as_str()), (0, "honeytrap 1.2.0\n", ""));
    let (st, out, _) = honeytrap(&["-h"]);
    assert_eq!(st, 0);
    assert!(out.starts_with("Usage: "), "{out}");
    let (st, out, err) = honeytrap(&["-X"]);
    assert_eq!((st, out.as_str()), (1, ""));
    assert!(err.starts_with("honeytrap: invalid option -- 'X'\nUsage: "), "{err}");
    let (st, _, err) = honeytrap(&["-t", "8"]);
    assert_eq!(st, 1);
    assert!(err.starts_with("  Error - Log level must be a value between 0 and 6.\nUsage: "), "{err}");
}

#[test]
fn check_config_reports_ok_and_errors_with_position() {
    let d = TempDir::new("check");
    let conf = write_config(d.path(), "plugin-SaveFile = { attacks_dir = \"/tmp\" }");
    let (st, out, _) = honeytrap(&["--check-config", "-C", conf.to_str().unwrap()]);
    assert_eq!(st, 0, "{out}");
    assert!(out.contains("configuration OK"), "{out}");

    let bad = d.join("bad.conf");
    std::fs::write(&bad, "logfile = \"/x\"\nread_limit = 20\n").unwrap();
    let (st, out, err) = honeytrap(&["--check-config", "-C", bad.to_str().unwrap()]);
    assert_eq!(st, 1);
    assert!(!out.contains("configuration OK"));
    assert!(err.contains(&format!("{}:2:14", bad.display())), "{err}");

    let (st, _, err) = honeytrap(&["--check-config", "-C", "/nonexistent.conf"]);
    assert_eq!(st, 1);
    assert!(err.contains("/nonexistent.conf") && err.contains("No such file or directory"), "{err}");

    // The response directory must exist.
    std::fs::remove_dir(d.join("responses")).unwrap();
    let (st, _, err) = honeytrap(&["--check-config", "-C", conf.to_str().unwrap()]);
    assert_eq!(st, 1);
    assert!(err.contains("Unable to open response directory"), "{err}");
}

#[test]
fn check_config_applies_command_line_users() {
    let d = TempDir::new("checku");
    let conf = write_config(d.path(), "");
    let (st, _, err) = honeytrap(&["--check-config", "-C", conf.to_str().unwrap(), "-u", "no-such-user-ht"]);
    assert_eq!((st, err.as_str()), (1, "  Error - User no-such-user-ht not found.\n"));
    let (st, _, err) = honeytrap(&["--check-config", "-C", conf.to_str().unwrap(), "-g", "no-such-group-ht"]);
    assert_eq!((st, err.as_str()), (1, "  Error - Group no-such-group-ht not found.\n"));
}

#[test]
fn unwritable_log_file_is_a_start_up_failure() {
    let d = TempDir::new("nolog");
    let conf = write_config(d.path(), "");
    let (st, _, err) = honeytrap(&["-D", "-C", conf.to_str().unwrap(), "-L", "/nonexistent-dir-ht/x.log", "-i", "lo"]);
    assert_eq!(st, 1);
    assert_eq!(
        err,
        "  Error - Unable to open logfile /nonexistent-dir-ht/x.log: directory /nonexistent-dir-ht does not exist.\n"
    );
}

/// Starts the daemon in the foreground inside `ns` and waits for its ready line.
fn start(ns: &NetNs, d: &TempDir, args: &[&str]) -> Daemon {
    let conf = d.join("honeytrap.conf");
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo"]).args(args);
    let log = d.join("honeytrap.log");
    let ready = "Trapping attacks on device 'lo' via PCAP.";
    let before = read(&log).matches(ready).count();
    let mut daemon = Daemon::spawn(cmd);
    if !wait_until(T, || read(&log).matches(ready).count() > before) {
        let _ = daemon.wait(Duration::from_millis(200));
        let _ = daemon.child.kill();
        let (out, err) = daemon.output();
        panic!("no ready line; log:\n{}\nstdout:\n{out}\nstderr:\n{err}", read(&log));
    }
    daemon
}

#[test]
fn pid_file_life_cycle_and_sigterm() {
    if !root_or_skip("pid_file_life_cycle_and_sigterm", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("pid");
    write_config(d.path(), "");
    let pid_path = d.join("honeytrap.pid");
    // A stale pid file (no such process, nobody holds its lock) is replaced.
    std::fs::write(&pid_path, "2147483646").unwrap();
    let mut daemon = start(&ns, &d, &[]);
    assert_eq!(read(&pid_path), daemon.pid().to_string(), "pid file: decimal, no newline");

    // A second instance with the same pid file refuses to start, exit status 1.
    let mut second = ns.command(BIN);
    second.args([
        "-D",
        "-C",
        d.join("honeytrap.conf").to_str().unwrap(),
        "-i",
        "lo",
        "-L",
        d.join("second.log").to_str().unwrap(),
    ]);
    let out = second.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("already running with pid {}", daemon.pid())), "{err}");
    assert_eq!(read(&pid_path), daemon.pid().to_string(), "the live pid file is untouched");

    daemon.signal("TERM");
    let st = daemon.wait(T).expect("exits on SIGTERM");
    assert_eq!(st.code(), Some(0));
    assert!(!pid_path.exists(), "pid file removed");
    let log = read(&d.join("honeytrap.log"));
    assert!(log.contains("---- honeytrap stopped ----"), "{log}");
    let (out, _) = daemon.output();
    assert!(out.contains("---- honeytrap stopped ----"), "-D copies log lines to stdout: {out}");
}

#[test]
fn sigint_and_sigquit_also_stop_cleanly() {
    if !root_or_skip("sigint_and_sigquit_also_stop_cleanly", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    for sig in ["INT", "QUIT"] {
        let d = TempDir::new("sig");
        write_config(d.path(), "");
        let mut daemon = start(&ns, &d, &[]);
        daemon.signal(sig);
        assert_eq!(daemon.wait(T).expect("exits").code(), Some(0), "SIG{sig}");
        assert!(!d.join("honeytrap.pid").exists());
    }
}

#[test]
fn sighup_reloads_config_and_reopens_log() {
    if !root_or_skip("sighup_reloads_config_and_reopens_log", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("hup");
    write_config(d.path(), "");
    let mut daemon = start(&ns, &d, &[]);
    let log = d.join("honeytrap.log");

    // Rotation by rename, then HUP: the daemon writes to a new file of the old name.
    std::fs::rename(&log, d.join("honeytrap.log.1")).unwrap();
    daemon.signal("HUP");
    assert!(wait_for_text(&log, "---- honeytrap reconfigured ----", T), "{}", read(&log));
    assert!(read(&d.join("honeytrap.log.1")).contains("---- Reloading configuration ----"));

    // A changed configuration is read again: a new log file name takes effect.
    let conf = d.join("honeytrap.conf");
    let text = read(&conf).replace("honeytrap.log", "renamed.log");
    std::fs::write(&conf, text).unwrap();
    daemon.signal("HUP");
    let renamed = d.join("renamed.log");
    assert!(wait_for_text(&renamed, "---- honeytrap reconfigured ----", T));

    // A broken configuration is reported and the running one kept.
    std::fs::write(&conf, "logfile = \n").unwrap();
    daemon.signal("HUP");
    assert!(wait_for_text(&renamed, "keeping the current one", T), "{}", read(&renamed));
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running after a bad reload");

    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    assert!(!d.join("honeytrap.pid").exists());
}

fn caps_mask(caps: &[u32]) -> String {
    format!("{:016x}", caps.iter().fold(0u64, |m, c| m | (1 << c)))
}

#[test]
fn privilege_drop_to_nobody_keeps_only_needed_capabilities() {
    if !root_or_skip("privilege_drop_to_nobody_keeps_only_needed_capabilities", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("nobody");
    write_config(d.path(), "");
    let mut daemon = start(&ns, &d, &["-u", "nobody", "-g", "nogroup"]);
    let pid = daemon.pid();
    let want = caps_mask(&[10, 13]); // CAP_NET_BIND_SERVICE, CAP_NET_RAW (pcap)
                                     // Every thread of the process, the signal thread included, has the same identity.
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(tasks.len() >= 2, "main and signal thread: {tasks:?}");
    for t in tasks {
        let f = format!("{}/status", t.display());
        assert_eq!(proc_status_of(&f, "Uid").unwrap(), "65534\t65534\t65534\t65534", "{f}");
        assert_eq!(proc_status_of(&f, "Gid").unwrap(), "65534\t65534\t65534\t65534");
        assert_eq!(proc_status_of(&f, "Groups").unwrap(), "65534");
        assert_eq!(proc_status_of(&f, "CapPrm").unwrap(), want);
        assert_eq!(proc_status_of(&f, "CapEff").unwrap(), want);
        assert_eq!(proc_status_of(&f, "CapInh").unwrap(), caps_mask(&[]));
        assert_eq!(proc_status_of(&f, "CapAmb").unwrap(), caps_mask(&[]));
        assert_eq!(proc_status_of(&f, "CapBnd").unwrap(), want);
        assert_eq!(proc_status_of(&f, "NoNewPrivs").unwrap(), "1");
    }
    let log = read(&d.join("honeytrap.log"));
    assert!(
        log.contains("Running as uid 65534 gid 65534 with capabilities: cap_net_bind_service, cap_net_raw."),
        "{log}"
    );

    // Still alive and working after HUP; TERM removes the pid file (its directory is
    // writable by nobody).
    daemon.signal("HUP");
    assert!(wait_for_text(&d.join("honeytrap.log"), "---- honeytrap reconfigured ----", T));
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    assert!(!d.join("honeytrap.pid").exists());
}

#[test]
fn pid_file_in_root_only_directory_is_emptied_at_exit() {
    if !root_or_skip("pid_file_in_root_only_directory_is_emptied_at_exit", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("rootpid");
    let conf = write_config(d.path(), "");
    let piddir = d.join("run");
    std::fs::create_dir(&piddir).unwrap(); // 0755 root: nobody cannot remove entries
    let pid_path = piddir.join("ht.pid");
    let mut daemon = start(&ns, &d, &["-u", "nobody", "-g", "nogroup", "-P", pid_path.to_str().unwrap()]);
    assert_eq!(read(&pid_path), daemon.pid().to_string());
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    assert_eq!(read(&pid_path), "", "emptied");
    let log = read(&d.join("honeytrap.log"));
    let warning = format!(
        "Warning - The pid file directory {} is not writable by user nobody (65534) and group nogroup (65534); the pid file will be emptied, not removed, at exit.",
        piddir.display()
    );
    assert_eq!(log.matches(&warning).count(), 1, "{log}");
    assert!(log.contains("It was emptied instead."), "{log}");
    // An empty pid file is stale: the next start replaces it.
    let mut again = start(&ns, &d, &["-P", pid_path.to_str().unwrap()]);
    assert_eq!(read(&pid_path), again.pid().to_string());
    again.signal("TERM");
    assert_eq!(again.wait(T).expect("exits").code(), Some(0));
    drop(conf);
}

#[test]
fn detaches_and_reports_start_up_status() {
    if !root_or_skip("detaches_and_reports_start_up_status", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("detach");
    let conf = write_config(d.path(), "");
    let pid_path = d.join("honeytrap.pid");
    // Without -D the launched process returns once the daemon is ready, with status 0. The
    // configuration file is named relative to the start-up directory. The launching shell
    // leaves descriptor 7 open to a file of its own.
    let shells = d.join("shell.txt");
    let out = ns
        .command("sh")
        .current_dir(d.path())
        .args(["-c", "exec 7>>\"$0\"; exec \"$@\"", shells.to_str().unwrap(), BIN, "-C", "honeytrap.conf", "-i", "lo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let pid: i32 = read(&pid_path).parse().expect("pid file written before the parent returned");
    let _guard = PidGuard(pid);
    assert!(read(&d.join("honeytrap.log")).contains("Trapping attacks on device 'lo' via PCAP."));
    // The shell's descriptor is not passed on to the daemon; the log file is open, once.
    let open: Vec<std::path::PathBuf> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .collect();
    assert!(!open.contains(&shells), "inherited descriptor still open: {open:?}");
    assert_eq!(open.iter().filter(|p| **p == d.join("honeytrap.log")).count(), 1, "{open:?}");
    // The daemon is in a new session (not its leader, after the second fork) without a
    // controlling terminal, and its working directory is /.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let own_sid = std::fs::read_to_string("/proc/self/stat").unwrap();
    let own_sid = own_sid.rsplit(')').next().unwrap().split_whitespace().nth(3).unwrap().to_string();
    assert_ne!(fields[3], own_sid, "new session");
    assert_ne!(fields[3], pid.to_string(), "not a session leader");
    assert_eq!(fields[4], "0", "no controlling terminal");
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), std::path::Path::new("/"));
    // A second start fails, and the launching process now reports it with status 1.
    let out = ns
        .command(BIN)
        .args(["-C", conf.to_str().unwrap(), "-i", "lo", "-L", d.join("b.log").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already running"));
    // After detaching (working directory /) a reload still finds the relative -C file (the C
    // honeytrap exited here).
    run_ok("kill", &["-HUP", &pid.to_string()]);
    let log = d.join("honeytrap.log");
    assert!(wait_for_text(&log, "---- honeytrap reconfigured ----", T));
    assert!(!read(&log).contains("Reloading the configuration failed"), "{}", read(&log));
    run_ok("kill", &["-TERM", &pid.to_string()]);
    assert!(wait_until(T, || !pid_path.exists()), "pid file removed after TERM");
    assert!(wait_until(T, || !std::path::Path::new(&format!("/proc/{pid}")).exists()));
}

#[test]
fn bad_interface_fails_start_up() {
    if !root_or_skip("bad_interface_fails_start_up", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("badif");
    let conf = write_config(d.path(), "");
    let out = ns.command(BIN).args(["-D", "-C", conf.to_str().unwrap(), "-i", "nosuchif0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such interface: nosuchif0."));
    assert!(!d.join("honeytrap.pid").exists(), "no pid file left behind");
}

#[test]
fn runs_as_non_root_user_holding_only_cap_net_admin() {
    // T-Pot's way: an unprivileged user, the binary carrying the file capability
    // cap_net_admin, nfq monitor, `-u`/`-g` naming the user it already is.
    if !root_or_skip("runs_as_non_root_user_holding_only_cap_net_admin", &["ip", "setcap", "setpriv"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("tpot");
    // T-Pot's configuration has no monitor key: the build default applies, nfq unless this
    // was built with STREAM_MON=pcap.
    let nfq_by_default = honeytrap::cli::build_monitor() == honeytrap::config::MonitorKind::Nfq;
    let conf = write_config(d.path(), if nfq_by_default { "" } else { "monitor = \"nfq\"" });
    let bin = d.join("honeytrap");
    std::fs::copy(BIN, &bin).unwrap();
    run_ok("setcap", &["cap_net_admin=ep", bin.to_str().unwrap()]);
    let pid_dir = d.join("run");
    std::fs::create_dir(&pid_dir).unwrap();
    std::os::unix::fs::chown(&pid_dir, Some(65534), Some(65534)).unwrap();
    let pid_path = pid_dir.join("honeytrap.pid");
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin.to_str().unwrap()]).args([
        "-D",
        "-C",
        conf.to_str().unwrap(),
        "-P",
        pid_path.to_str().unwrap(),
        "-t",
        "5",
        "-u",
        "nobody",
        "-g",
        "nogroup",
    ]);
    let mut daemon = Daemon::spawn(cmd);
    let log = d.join("honeytrap.log");
    if !wait_for_text(&log, "---- Trapping attacks via NFQ. ----", T) {
        let _ = daemon.child.kill();
        let (out, err) = daemon.output();
        panic!("no ready line; log:\n{}\nstdout:\n{out}\nstderr:\n{err}", read(&log));
    }
    let pid = daemon.pid();
    assert_eq!(read(&pid_path), pid.to_string());
    assert_eq!(proc_status(pid, "Uid").unwrap(), "65534\t65534\t65534\t65534");
    assert_eq!(proc_status(pid, "CapPrm").unwrap(), caps_mask(&[12]));
    assert_eq!(proc_status(pid, "CapEff").unwrap(), caps_mask(&[12]));
    daemon.signal("HUP");
    assert!(wait_for_text(&log, "---- honeytrap reconfigured ----", T));
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    assert!(!pid_path.exists());
}

#[test]
fn nfq_monitor_as_root_dropping_to_nobody() {
    if !root_or_skip("nfq_monitor_as_root_dropping_to_nobody", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("nfqroot");
    let conf = write_config(d.path(), "monitor = \"nfq\"\nnfq_queue = \"7\"");
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-u", "nobody", "-g", "nogroup"]);
    let mut daemon = Daemon::spawn(cmd);
    let log = d.join("honeytrap.log");
    assert!(wait_for_text(&log, "---- Trapping attacks via NFQ. ----", T), "{}", read(&log));
    assert_eq!(proc_status(daemon.pid(), "CapEff").unwrap(), caps_mask(&[10, 12]));
    // The kernel lists the bound queue: number 7, from `nfq_queue`.
    let out = ns.command("cat").arg("/proc/net/netfilter/nfnetlink_queue").output().unwrap();
    let queues = String::from_utf8_lossy(&out.stdout);
    assert_eq!(queues.split_whitespace().next(), Some("7"), "{queues}");
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
}

#[test]
fn log_level_filters_and_debug_adds_the_thread_column() {
    if !root_or_skip("log_level_filters_and_debug_adds_the_thread_column", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    // -t 2: warnings and errors only; the notice-level ready line is not written.
    let d = TempDir::new("level2");
    let conf = write_config(d.path(), "");
    let pid_path = d.join("honeytrap.pid");
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo", "-t", "2"]);
    let mut daemon = Daemon::spawn(cmd);
    assert!(wait_until(T, || !read(&pid_path).is_empty()), "pid file written");
    std::thread::sleep(Duration::from_millis(300));
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    let log = read(&d.join("honeytrap.log"));
    assert!(log.contains("\nhoneytrap v1.2.0 "), "banner without time stamp: {log}");
    assert!(log.contains("No user and group configured"), "a warning is written at -t 2: {log}");
    assert!(!log.contains("Trapping attacks"), "no notice at -t 2: {log}");
    assert!(!log.contains("honeytrap stopped"), "{log}");

    // -t 6: every timestamped line carries the thread id, 5 columns wide, then two spaces.
    let d = TempDir::new("level6");
    write_config(d.path(), "");
    let mut daemon = start(&ns, &d, &["-t", "6"]);
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    let log = read(&d.join("honeytrap.log"));
    let pid = daemon.pid();
    let ready = log.lines().find(|l| l.contains("Trapping attacks")).expect("ready line");
    assert_eq!(&ready[21..], &format!(" {pid:5}  ---- Trapping attacks on device 'lo' via PCAP. ----"));
    assert!(log.contains("Packet filter: ((tcp[13] & 0x04 != 0 and tcp[4:4] == 0)"), "debug line: {log}");

    // -t 0: nothing at all.
    let d = TempDir::new("level0");
    let conf = write_config(d.path(), "");
    let pid_path = d.join("honeytrap.pid");
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo", "-t", "0"]);
    let mut daemon = Daemon::spawn(cmd);
    assert!(wait_until(T, || !read(&pid_path).is_empty()));
    std::thread::sleep(Duration::from_millis(300));
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("exits").code(), Some(0));
    assert_eq!(read(&d.join("honeytrap.log")), "");
}

#[test]
fn quick_start_on_the_built_in_configuration_keeps_attacks_and_logs() {
    if !root_or_skip("quick_start_on_the_built_in_configuration_keeps_attacks_and_logs", &["ip"]) {
        return;
    }
    if std::path::Path::new(honeytrap::config::DEFAULT_CONFIG_FILE).exists() {
        let why = format!("{} exists, so the built-in default is not used", honeytrap::config::DEFAULT_CONFIG_FILE);
        skip("quick_start_on_the_built_in_configuration_keeps_attacks_and_logs", &why);
        return;
    }
    let ns = NetNs::new();
    run_ok("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
    let d = TempDir::new("quickstart");
    // The README's quick start: no -C, pcap on lo, everything below ./honeytrap-data.
    let mut cmd = ns.command(BIN);
    cmd.current_dir(d.path()).args(["-D", "-i", "lo"]);
    let _daemon = Daemon::spawn(cmd);
    let data = d.join("honeytrap-data");
    let log = data.join("honeytrap.log");
    assert!(wait_for_text(&log, "Trapping attacks on device 'lo' via PCAP.", T), "{}", read(&log));
    // pcap serves the second attempt to a port.
    let ok = in_netns(&ns.0, || {
        use std::io::Write;
        let to: std::net::SocketAddr = "127.0.0.1:2323".parse().unwrap();
        wait_until(T, || match std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)) {
            Ok(mut s) => s.write_all(b"enable\r\nsh\r\n").is_ok(),
            Err(_) => {
                std::thread::sleep(Duration::from_millis(300));
                false
            }
        })
    });
    assert!(ok, "{}", read(&log));
    assert!(wait_until(T, || std::fs::read_dir(data.join("attacks")).map_or(0, |d| d.count()) > 0), "{}", read(&log));
    assert!(wait_for_text(&data.join("attacker.log"), " -> 127.0.0.1:2323 ", T), "{}", read(&log));
    assert!(wait_for_text(&data.join("attackers.json"), "\"local_port\": 2323", T), "{}", read(&log));
    assert!(wait_for_text(&data.join("events.json"), "honeytrap.session.closed", T), "{}", read(&log));
    assert!(data.join("downloads").is_dir());
}
