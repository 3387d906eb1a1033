//! The files the daemon writes, tried with the real binary in a network namespace:
//! * a line torn by a killed daemon, by a torn file found at SIGHUP, or by a full disk stays
//!   one bad line in the daemon log, logAttacker, logJSON and logEvents, and the records
//!   after it are whole;
//! * attack file numbers continue above every earlier one after a fast restart, temporary
//!   files of a killed run are removed at start, SaveFile errors are throttled;
//! * started as root with `-u nobody`, a symbolic link at any file's name (log, pid file,
//!   outputs) fails the start and leaves its target alone, one placed while running is
//!   refused at SIGHUP, and only regular files with one link are given to the run user.

mod common;

use common::*;
use honeytrap::attack::md5_hex;
use honeytrap::pipeline::output::json;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);
const READY: &str = "Trapping attacks on device 'lo' via PCAP.";
const PORT: u16 = 2323;
/// The output files, all in one directory.
const OUTPUTS: [&str; 3] = ["attacker.log", "attackers.json", "events.json"];

/// A configuration in `dir` whose outputs are written in `out` and attack strings saved in
/// `attacks`.
fn config(dir: &Path, out: &Path, attacks: &Path) -> PathBuf {
    std::fs::create_dir_all(attacks).unwrap();
    write_config(
        dir,
        &format!(
            "plugin-SaveFile = {{ attacks_dir = \"{a}\" }}\n\
             plugin-logAttacker = {{ logfile = \"{o}/attacker.log\" }}\n\
             plugin-logJSON = {{ logfile = \"{o}/attackers.json\" }}\n\
             plugin-logEvents = {{ logfile = \"{o}/events.json\" }}\n",
            a = attacks.display(),
            o = out.display()
        ),
    )
}

/// A namespace, and a scratch directory with the files of [`config`] (outputs beside the
/// configuration); returns them with the configuration and the log file's path.
fn setup(tag: &str) -> (NetNs, TempDir, PathBuf, PathBuf) {
    let d = TempDir::new(tag);
    let conf = config(d.path(), d.path(), &d.join("attacks"));
    let log = d.join("honeytrap.log");
    (NetNs::new(), d, conf, log)
}

/// Standard output and error of a daemon, read as they come.
#[derive(Clone)]
struct Console(Captured, Captured);

impl Console {
    fn capture(daemon: &mut Daemon) -> Console {
        Console(daemon.stdout.clone(), daemon.stderr.clone())
    }
    fn text(&self) -> String {
        self.0.text() + &self.1.text()
    }
}

/// Starts the daemon in the foreground (`-D`, pcap on `lo`) with the log file `log` and
/// waits for its ready line on standard output.
fn start(ns: &NetNs, conf: &Path, log: &Path, args: &[&str]) -> (Daemon, Console) {
    let mut cmd = ns.command(BIN);
    cmd.args(["-D", "-C", conf.to_str().unwrap(), "-L", log.to_str().unwrap(), "-i", "lo"]).args(args);
    let mut daemon = Daemon::spawn(cmd);
    let console = Console::capture(&mut daemon);
    if !wait_until(T, || console.text().contains(READY)) {
        let _ = daemon.child.kill();
        panic!("no ready line:\n{}\nlog:\n{}", console.text(), read(log));
    }
    (daemon, console)
}

/// One attack from inside the namespace: connects to port [`PORT`] (again while the pcap
/// monitor binds it after the first refused attempt), sends `data`, closes.
fn attack(ns: &NetNs, data: &[u8]) {
    let data = data.to_vec();
    let ok = in_netns(&ns.0, move || {
        let to = SocketAddr::from(([127, 0, 0, 1], PORT));
        wait_until(T, || match TcpStream::connect_timeout(&to, Duration::from_secs(1)) {
            Ok(mut s) => s.write_all(&data).is_ok() && s.shutdown(Shutdown::Both).is_ok(),
            Err(_) => {
                std::thread::sleep(Duration::from_millis(100));
                false
            }
        })
    });
    assert!(ok, "attack on port {PORT}");
}

fn stop(mut daemon: Daemon) {
    daemon.signal("TERM");
    assert_eq!(daemon.wait(T).expect("stops on TERM").code(), Some(0));
}

/// Whether `line` is a whole record of the file `name`.
fn whole(name: &str, line: &str) -> bool {
    match name {
        "attacker.log" => line.starts_with('[') && line.ends_with(" bytes)") && line.matches(" GMT] ").count() == 1,
        n if n.ends_with(".json") => matches!(common::json::parse(line), Ok(json::Value::Object(_))),
        // The daemon log: `[YYYY-MM-DD HH:MM:SS] message`, one time stamp, and the banner
        // after an empty line. (A line cut short looks whole; one glued to it does not.)
        _ => line.is_empty() || line.starts_with("honeytrap v") || stamps(line) == [0],
    }
}

/// Where the daemon log's `[YYYY-MM-DD HH:MM:SS] ` time stamps start in `line`.
fn stamps(line: &str) -> Vec<usize> {
    let b = line.as_bytes();
    let shape = b"[dddd-dd-dd dd:dd:dd] ";
    (0..b.len().saturating_sub(shape.len() - 1))
        .filter(|&i| shape.iter().zip(&b[i..]).all(|(s, c)| if *s == b'd' { c.is_ascii_digit() } else { s == c }))
        .collect()
}

/// The lines of `path` split into whole records and the others; `name` is the kind of file
/// (its name without a rotation suffix).
fn lines(path: &Path, name: &str) -> (Vec<String>, Vec<String>) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.lines().map(str::to_string).partition(|l| whole(name, l))
}

/// Whole records of `path` mentioning `needle`.
fn records_with(path: &Path, name: &str, needle: &str) -> usize {
    lines(path, name).0.iter().filter(|l| l.contains(needle)).count()
}

/// Waits until the attack with `payload` is in every output in `out` (suffix `sfx`).
fn wait_logged(out: &Path, sfx: &str, payload: &[u8]) {
    let md5 = md5_hex(payload);
    for name in OUTPUTS {
        let p = out.join(format!("{name}{sfx}"));
        assert!(wait_until(T, || records_with(&p, name, &md5) > 0), "{md5} not in {}:\n{}", p.display(), read(&p));
    }
}

/// Cuts the last `n` bytes off `path` (as a kill in the middle of a write leaves it) and
/// returns the torn last line.
fn tear(path: &Path, n: u64) -> String {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let len = f.metadata().unwrap().len();
    assert!(len > n, "{} too short", path.display());
    f.set_len(len - n).unwrap();
    read(path).lines().last().unwrap().to_string()
}

#[test]
fn a_line_torn_by_a_killed_daemon_or_found_at_sighup_stays_one_bad_line() {
    if !root_or_skip("a_line_torn_by_a_killed_daemon_or_found_at_sighup_stays_one_bad_line", &["ip"]) {
        return;
    }
    let (ns, d, conf, log) = setup("torn");
    let all: Vec<&str> = OUTPUTS.iter().copied().chain(["honeytrap.log"]).collect();

    // A run killed while it writes: every file ends inside a line.
    let (mut daemon, _) = start(&ns, &conf, &log, &[]);
    attack(&ns, b"first run");
    wait_logged(d.path(), "", b"first run");
    daemon.child.kill().unwrap();
    daemon.wait(T).expect("killed");
    let torn: Vec<String> = all.iter().map(|n| tear(&d.join(n), 7)).collect();

    // Restarted at once, then a rotation that finds torn files at the names (SIGHUP).
    let (daemon, console) = start(&ns, &conf, &log, &[]);
    attack(&ns, b"second run");
    wait_logged(d.path(), "", b"second run");
    for n in &all {
        std::fs::rename(d.join(n), d.join(&format!("{n}.1"))).unwrap();
        std::fs::write(d.join(n), format!("torn {n}")).unwrap();
    }
    daemon.signal("HUP");
    assert!(wait_until(T, || console.text().contains("---- honeytrap reconfigured ----")), "{}", console.text());
    attack(&ns, b"after the reload");
    wait_logged(d.path(), "", b"after the reload");
    stop(daemon);

    for (n, torn) in all.iter().zip(&torn) {
        // The daemon log's torn line has the shape of a whole one: it must stay a line of its
        // own, and no line may be glued to it.
        let (good, mut bad) = lines(&d.join(&format!("{n}.1")), n);
        if *n == "honeytrap.log" {
            assert!(good.contains(torn), "{torn:?} is a line of its own");
            bad.extend(good.iter().filter(|l| *l == torn).cloned());
        }
        assert_eq!(bad, std::slice::from_ref(torn), "{n}.1: only the line torn by the kill is bad");
        assert!(!good.is_empty());
        let (good, bad) = lines(&d.join(n), n);
        assert_eq!(bad, [format!("torn {n}")], "{n}: only the line found torn at SIGHUP is bad");
        assert!(!good.is_empty());
    }
    let (good, _) = lines(&d.join("honeytrap.log"), "honeytrap.log");
    assert!(good.iter().any(|l| l.ends_with("] ---- honeytrap reconfigured ----")), "{good:?}");
}

/// A tmpfs mounted in a test-owned directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&at).unwrap();
        run_ok("mount", &["-t", "tmpfs", "-o", &format!("size={size},mode=0777"), "tmpfs", at.to_str().unwrap()]);
        Tmpfs(at)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system of `path` with the file `path` until nothing more fits.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 1 << 16];
    while f.write(&block).is_ok_and(|n| n > 0) {}
    while f.write(&[0]).is_ok_and(|n| n > 0) {}
}

#[test]
fn a_full_disk_then_space_again_leaves_at_most_one_bad_line_per_file() {
    if !root_or_skip("a_full_disk_then_space_again_leaves_at_most_one_bad_line_per_file", &["ip", "mount", "umount"]) {
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("fulldisk");
    let fs = Tmpfs::mount(d.join("fs"), "1m");
    let conf = config(d.path(), &fs.0, &d.join("attacks"));
    let log = fs.0.join("honeytrap.log");
    // Level 6: many daemon log lines per attack, so the log fills up too.
    let (daemon, console) = start(&ns, &conf, &log, &["-t", "6"]);
    // Records longer than a page: a write into the last, partly used page is cut short.
    let payload = |tag: String| format!("{tag} {}", "x".repeat(3000)).into_bytes();
    attack(&ns, &payload("before".into()));
    wait_logged(&fs.0, "", &payload("before".into()));

    fill(&fs.0.join("filler"));
    let errors = [
        "logAttacker - Error - Unable to write to",
        "logJSON - Error - Unable to write to",
        "logEvents - Error - Unable to write to",
        "Error while writing logfile",
    ];
    let mut n = 0;
    while n < 60 && !errors.iter().all(|e| console.text().contains(e)) {
        attack(&ns, &payload(format!("during {n}")));
        n += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(errors.iter().all(|e| console.text().contains(e)), "after {n} attacks:\n{}", console.text());

    std::fs::remove_file(fs.0.join("filler")).unwrap();
    let after: Vec<Vec<u8>> = (0..3).map(|i| payload(format!("after {i}"))).collect();
    for p in &after {
        attack(&ns, p);
    }
    for p in &after {
        wait_logged(&fs.0, "", p);
    }
    stop(daemon);

    for name in OUTPUTS.iter().chain(&["honeytrap.log"]) {
        let (good, bad) = lines(&fs.0.join(name), name);
        assert!(bad.len() <= 1, "{name}: {} bad lines: {bad:?}", bad.len());
        assert!(!good.is_empty(), "{name}");
    }
    // Every record of the attacks after the disk had space again is whole: in the event
    // stream each session's connect, input and closed events.
    for p in &after {
        let md5 = md5_hex(p);
        for name in ["attacker.log", "attackers.json"] {
            assert_eq!(records_with(&fs.0.join(name), name, &md5), 1, "{name}");
        }
        let (events, _) = lines(&fs.0.join("events.json"), "events.json");
        let input = events.iter().find(|l| l.contains(&md5)).expect("input event");
        let session = &input[input.find("\"session\":").unwrap()..][..26];
        let of_session: Vec<&String> = events.iter().filter(|l| l.contains(session)).collect();
        assert_eq!(of_session.len(), 3, "connect, input, closed: {of_session:?}");
    }
    let (good, _) = lines(&fs.0.join("honeytrap.log"), "honeytrap.log");
    assert!(good.last().is_some_and(|l| l.ends_with("  ---- honeytrap stopped ----")), "{:?}", good.last());
}

/// The `<n>` of the attack files in `dir`, sorted.
fn numbers(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().ok()?;
            name.strip_prefix("from_port_")?.split('_').nth(1)?.parse().ok()
        })
        .collect();
    v.sort();
    v
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn attack_files_survive_a_fast_restart_and_stale_temporary_files_go() {
    if !root_or_skip("attack_files_survive_a_fast_restart_and_stale_temporary_files_go", &["ip"]) {
        return;
    }
    let (ns, d, conf, log) = setup("restart");
    let attacks = d.join("attacks");
    // An earlier run that saved faster than one attack per millisecond: numbers ahead of
    // the clock, more than a thousand of them.
    let ahead = now_ms();
    for n in ahead..ahead + 1500 {
        std::fs::write(attacks.join(format!("from_port_{PORT}-tcp_{n}_2026-01-01")), b"earlier").unwrap();
    }
    // Temporary files of a killed run, and a link of such a name that is not ours.
    let stale = [attacks.join(".from_port_2323-tcp_17_2026-01-01.tmp"), attacks.join(".honeytrap-counter.tmp")];
    for p in &stale {
        std::fs::write(p, b"half").unwrap();
    }
    let target = d.join("target");
    std::fs::write(&target, b"not ours").unwrap();
    let link = attacks.join(".from_port_2323-tcp_18_2026-01-01.tmp");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let (mut daemon, _) = start(&ns, &conf, &log, &[]);
    for p in &stale {
        assert!(!p.exists(), "{} removed", p.display());
    }
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&target).unwrap(), b"not ours");
    assert!(read(&log).contains("SaveFile - Removed 2 temporary file(s) of an earlier run from"), "{}", read(&log));

    attack(&ns, b"one");
    assert!(wait_until(T, || numbers(&attacks).len() == 1501), "{}", read(&log));
    let first = *numbers(&attacks).last().unwrap();
    assert!(first >= ahead + 1500, "{first}");
    // Killed and started again at once, twice: every attack saved under a new number.
    for (i, data) in [b"two", b"333"].iter().enumerate() {
        daemon.child.kill().unwrap();
        daemon.wait(T).expect("killed");
        daemon = start(&ns, &conf, &log, &[]).0;
        attack(&ns, *data);
        assert!(wait_until(T, || numbers(&attacks).len() == 1502 + i), "{}", read(&log));
    }
    stop(daemon);
    let last: Vec<u64> = numbers(&attacks).split_off(1500);
    assert!(last[0] == first && last[1] > last[0] && last[2] > last[1], "{last:?}");
    assert!(!read(&log).contains("SaveFile error"), "{}", read(&log));
}

#[test]
fn savefile_errors_are_throttled() {
    if !root_or_skip("savefile_errors_are_throttled", &["ip"]) {
        return;
    }
    let (ns, d, conf, log) = setup("sferr");
    std::fs::remove_dir(d.join("attacks")).unwrap(); // every save fails
    let (daemon, _) = start(&ns, &conf, &log, &[]);
    for i in 0..5 {
        let data = format!("attack {i}");
        attack(&ns, data.as_bytes());
        wait_logged(d.path(), "", data.as_bytes());
    }
    stop(daemon);
    let text = read(&log);
    let errors: Vec<&str> = text.lines().filter(|l| l.contains("SaveFile error")).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let expected = format!(
        "] SaveFile error - Unable to save attack string in attacks directory {}: No such file or directory",
        d.join("attacks").display()
    );
    assert!(errors[0].ends_with(&expected), "{errors:?}");
}

/// A file owned by root in a directory only root may write, with `mode` and `content`.
fn root_file(dir: &Path, name: &str, mode: u32, content: &[u8]) -> PathBuf {
    let rootdir = dir.join("root-only");
    std::fs::create_dir_all(&rootdir).unwrap();
    std::fs::set_permissions(&rootdir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = rootdir.join(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// Owner, group, mode and content of `path` (not following a link).
fn state(path: &Path) -> (u32, u32, u32, Vec<u8>) {
    let m = std::fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777, std::fs::read(path).unwrap_or_default())
}

#[test]
fn a_link_at_any_file_name_fails_the_start_and_leaves_its_target_alone() {
    if !root_or_skip("a_link_at_any_file_name_fails_the_start_and_leaves_its_target_alone", &["ip"]) {
        return;
    }
    let ns = NetNs::new();
    for name in ["honeytrap.log", "honeytrap.pid", "attacker.log", "attackers.json", "events.json"] {
        let d = TempDir::new("link");
        let conf = config(d.path(), d.path(), &d.join("attacks"));
        let target = root_file(d.path(), "shadow", 0o600, b"root:secret\n");
        let before = state(&target);
        let at = d.join(name);
        std::os::unix::fs::symlink(&target, &at).unwrap();

        let mut cmd = ns.command(BIN);
        cmd.args(["-D", "-C", conf.to_str().unwrap(), "-i", "lo", "-u", "nobody", "-g", "nogroup"]);
        let mut daemon = Daemon::spawn(cmd);
        let status = daemon.wait(T);
        if status.is_none() {
            let _ = daemon.child.kill();
        }
        let (_, err) = daemon.output();
        assert_eq!(status.and_then(|s| s.code()), Some(1), "{name}: {err}");
        assert!(
            err.contains(&format!("{} is a symbolic link, which is never followed.", at.display())),
            "{name}: {err}"
        );
        assert_eq!(state(&target), before, "{name}: target unchanged");
        assert!(std::fs::symlink_metadata(&at).unwrap().file_type().is_symlink(), "{name}");
    }
}

#[test]
fn a_link_placed_while_running_is_refused_at_sighup() {
    if !root_or_skip("a_link_placed_while_running_is_refused_at_sighup", &["ip"]) {
        return;
    }
    let (ns, d, conf, log) = setup("hup-link");
    // Writable by anyone: only not following the link keeps it unchanged.
    let target = root_file(d.path(), "target", 0o666, b"root data\n");
    let before = state(&target);
    let (daemon, console) = start(&ns, &conf, &log, &["-u", "nobody", "-g", "nogroup"]);
    attack(&ns, b"before");
    wait_logged(d.path(), "", b"before");

    let names: Vec<&str> = OUTPUTS.iter().copied().chain(["honeytrap.log"]).collect();
    for n in &names {
        std::fs::rename(d.join(n), d.join(&format!("{n}.old"))).unwrap();
        std::os::unix::fs::symlink(&target, d.join(n)).unwrap();
    }
    daemon.signal("HUP");
    assert!(wait_until(T, || console.text().contains("---- honeytrap reconfigured ----")), "{}", console.text());
    attack(&ns, b"after");
    wait_logged(d.path(), ".old", b"after");
    stop(daemon);

    let old_log = read(&d.join("honeytrap.log.old"));
    for n in &names {
        let refused = format!("{} is a symbolic link, which is never followed.", d.join(n).display());
        assert!(old_log.lines().any(|l| l.contains("Error - ") && l.contains(&refused)), "{n}:\n{old_log}");
        assert!(std::fs::symlink_metadata(d.join(n)).unwrap().file_type().is_symlink());
    }
    assert!(old_log.contains("---- honeytrap stopped ----"), "the old log file stays in use");
    assert_eq!(state(&target), before, "target unchanged");
}

#[test]
fn only_regular_files_with_one_link_are_given_to_the_run_user() {
    if !root_or_skip("only_regular_files_with_one_link_are_given_to_the_run_user", &["ip", "mkfifo"]) {
        return;
    }
    let (ns, d, conf, log) = setup("give");
    // A hard link to a root file at one output's name, a FIFO at another's.
    let target = root_file(d.path(), "passwd", 0o644, b"root:x:0:0\n");
    std::fs::hard_link(&target, d.join("attacker.log")).unwrap();
    run_ok("mkfifo", &["-m", "0644", d.join("events.json").to_str().unwrap()]);
    let (daemon, _) = start(&ns, &conf, &log, &["-u", "nobody", "-g", "nogroup"]);
    stop(daemon);

    let uid = |p: &Path| std::fs::symlink_metadata(p).unwrap().uid();
    assert_eq!(uid(&target), 0, "the hard-linked root file keeps its owner");
    assert!(read(&target).starts_with("root:x:0:0\n"));
    assert_eq!(uid(&d.join("events.json")), 0, "the FIFO keeps its owner");
    assert_eq!(uid(&d.join("attackers.json")), 65534, "a regular file is given to the run user");
    assert_eq!(uid(&log), 65534);
    let text = read(&log);
    for n in ["attacker.log", "events.json"] {
        let w = format!(
            "Warning - {} is not a regular file with a single link; its owner is left unchanged.",
            d.join(n).display()
        );
        assert!(text.contains(&w), "{n}:\n{text}");
    }
}

#[test]
fn an_attacks_dir_the_run_user_cannot_write_is_named_at_start_and_reload() {
    if !root_or_skip("an_attacks_dir_the_run_user_cannot_write_is_named_at_start_and_reload", &["ip"]) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let (ns, d, conf, log) = setup("sfperm");
    let attacks = d.join("attacks");
    // As `make install` leaves it: root's, mode 0755.
    std::fs::set_permissions(&attacks, std::fs::Permissions::from_mode(0o755)).unwrap();
    let warning = format!(
        "SaveFile - Warning - attacks_dir {} is not writable by user nobody (65534) and group nogroup (65534), attack strings will not be saved until it is.",
        attacks.display()
    );
    let (daemon, _) = start(&ns, &conf, &log, &["-u", "nobody", "-g", "nogroup"]);
    assert_eq!(read(&log).matches(&warning).count(), 1, "{}", read(&log));
    // Given to the run user: the next reload finds nothing to say.
    std::os::unix::fs::chown(&attacks, Some(65534), Some(65534)).unwrap();
    daemon.signal("HUP");
    assert!(wait_for_text(&log, "---- honeytrap reconfigured ----", T), "{}", read(&log));
    attack(&ns, b"saved as nobody");
    wait_logged(d.path(), "", b"saved as nobody");
    // Taken away again: the reload names it.
    std::os::unix::fs::chown(&attacks, Some(0), Some(0)).unwrap();
    daemon.signal("HUP");
    assert!(wait_until(T, || read(&log).matches(&warning).count() == 2), "{}", read(&log));
    stop(daemon);
    let saved: Vec<_> = std::fs::read_dir(&attacks).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(saved.iter().any(|n| n.to_string_lossy().starts_with("from_port_2323-tcp_")), "{saved:?}");
}
