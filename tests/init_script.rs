//! The SysV init script (contrib/honeytrap.init) driving the real daemon in a network
//! namespace: start, status, reload, restart, stop, and status codes per LSB.

mod common;

use common::*;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn init_script_start_status_reload_stop() {
    if !root_or_skip("init_script_start_status_reload_stop", &["ip", "sh"]) {
        return;
    }
    if Path::new("/etc/default/honeytrap").exists() {
        skip("init_script_start_status_reload_stop", "/etc/default/honeytrap would change the script's settings");
        return;
    }
    let ns = NetNs::new();
    let d = TempDir::new("init");
    let sbin = Path::new(BIN).parent().unwrap();
    let etc = d.join("etc");
    let run = d.join("run");
    std::fs::create_dir_all(etc.join("honeytrap")).unwrap();
    // The configuration the script names: the pcap monitor, files in the scratch directory,
    // running as nobody (the script gives the pid directory to nobody:nogroup).
    // The data directories the script gives to that user, as `make install` makes their
    // parent: root's, mode 0755.
    let var = d.join("var");
    let attacks = var.join("lib/honeytrap/attacks");
    std::fs::create_dir_all(var.join("lib/honeytrap")).unwrap();
    let conf_text = std::fs::read_to_string(write_config(
        d.path(),
        &format!(
            "monitor = \"pcap\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
             plugin-SaveFile = {{ attacks_dir = \"{}\" }}",
            attacks.display()
        ),
    ))
    .unwrap();
    std::fs::write(etc.join("honeytrap/honeytrap.conf"), conf_text).unwrap();
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/honeytrap.init"))
        .unwrap()
        .replace("@SBINDIR@", sbin.to_str().unwrap())
        .replace("@SYSCONFDIR@", etc.to_str().unwrap())
        .replace("@RUNDIR@", run.to_str().unwrap())
        .replace("@LOCALSTATEDIR@", var.to_str().unwrap());
    let init = d.join("honeytrap.init");
    std::fs::write(&init, script).unwrap();
    let pid_path = run.join("honeytrap/honeytrap.pid");
    let log = d.join("honeytrap.log");

    let action = |a: &str| -> (i32, String) {
        let out = ns.command("sh").arg(&init).arg(a).output().unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    };

    assert_eq!(action("status").0, 3, "not running yet");
    let (st, out) = action("start");
    assert_eq!(st, 0, "{out}\n{}", read(&log));
    let pid: i32 = read(&pid_path).parse().expect("pid file");
    let _guard = PidGuard(pid);
    assert!(out.contains(&format!("(pid {pid})")), "{out}");
    assert!(read(&log).contains("Trapping attacks on device"), "{}", read(&log));
    assert_eq!(proc_status(pid, "Uid").unwrap(), "65534\t65534\t65534\t65534");
    let (st, out) = action("status");
    assert_eq!((st, out.trim()), (0, format!("honeytrap is running (pid {pid}).").as_str()));

    // The data directories exist, are the run user's, and attack strings are saved there.
    for dir in [&attacks, &var.join("lib/honeytrap/downloads")] {
        let m = std::fs::metadata(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (65534, 65534, 0o750), "{}", dir.display());
    }
    assert!(!read(&log).contains("is not writable"), "{}", read(&log));
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], 2323));
    let sent = in_netns(&ns.0, move || {
        // pcap: the first attempt is refused and makes the daemon bind the port.
        wait_until(Duration::from_secs(15), || {
            match std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)) {
                Ok(mut s) => s.write_all(b"saved via the init script").is_ok(),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(100));
                    false
                }
            }
        })
    });
    assert!(sent, "attack on port 2323");
    let saved = || {
        std::fs::read_dir(&attacks).into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("from_port_2323-tcp_")
                && std::fs::read(e.path()).is_ok_and(|b| b == b"saved via the init script")
        })
    };
    assert!(wait_until(Duration::from_secs(15), saved), "no attack file in {}\n{}", attacks.display(), read(&log));

    assert_eq!(action("reload").0, 0);
    assert!(wait_for_text(&log, "---- honeytrap reconfigured ----", Duration::from_secs(10)));

    assert_eq!(action("restart").0, 0);
    let pid2: i32 = read(&pid_path).parse().expect("pid file after restart");
    let _guard2 = PidGuard(pid2);
    assert_ne!(pid, pid2);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "old daemon gone");

    let (st, out) = action("stop");
    assert_eq!(st, 0, "{out}");
    assert!(!pid_path.exists(), "pid file removed by the daemon");
    assert_eq!(action("status").0, 3);
    assert_eq!(action("reload").0, 7, "reload when stopped: LSB 'not running'");
    assert_eq!(Command::new("sh").arg(&init).arg("bogus").status().unwrap().code(), Some(2));
}
