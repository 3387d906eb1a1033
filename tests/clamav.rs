//! ClamAV against a real clamd the test starts with a signature database made here (a hash
//! signature of one test sample, never the official download): an infected sample's event
//! carries the signature name, a clean one `clean`; with clamd gone one warning says so and
//! capture goes on.

mod common;

use common::{read, root_or_skip, wait_until, Launch, PidGuard, Sensor, TempDir};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An x86-64 ELF sample.
fn sample(seed: u32) -> Vec<u8> {
    common::elf_sample(true, 62, seed, 4000)
}

fn clamd_path() -> Option<&'static str> {
    ["/usr/sbin/clamd", "/usr/bin/clamd"].into_iter().find(|p| std::path::Path::new(p).exists())
}

#[test]
fn samples_are_scanned_by_clamd() {
    if !root_or_skip(&common::this_test(), &["ip"]) {
        return;
    }
    let Some(clamd) = clamd_path() else {
        common::skip(&common::this_test(), "needs clamd (Debian package clamav-daemon)");
        return;
    };
    let dir = TempDir::new("clamav");
    std::fs::create_dir_all(dir.join("db")).unwrap();
    let infected = sample(1);
    std::fs::write(
        dir.join("db/honeytrap-test.hdb"),
        format!("{}:{}:Honeytrap.Test.Infected\n", honeytrap::attack::md5_hex(&infected), infected.len()),
    )
    .unwrap();
    let sock = dir.join("clamd.sock");
    std::fs::write(
        dir.join("clamd.conf"),
        format!(
            "LocalSocket {}\nDatabaseDirectory {}\nForeground true\nLogFile {}\nPidFile {}\nBytecode false\n",
            sock.display(),
            dir.join("db").display(),
            dir.join("clamd.log").display(),
            dir.join("clamd.pid").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(clamd)
        .arg("--config-file")
        .arg(dir.join("clamd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let guard = PidGuard(child.id() as i32);
    assert!(
        wait_until(Duration::from_secs(60), || sock.exists()),
        "clamd did not start: {}",
        read(&dir.join("clamd.log"))
    );

    let s = Sensor::new(
        "clamav",
        &format!(
            "plugin-magicPE = \"\"\nplugin-ClamAV = {{ clamd_socket = \"{}\" temp_dir = \"/tmp\" }}",
            sock.display()
        ),
    );
    let mut d = s.start(Launch::Foreground, &[]);
    let to: SocketAddr = "127.0.0.1:4444".parse().unwrap();
    let downloads =
        || read(&s.path("events.json")).lines().filter(|l| l.contains("honeytrap.session.file_download\"")).count();
    assert!(common::attack(&s.ns, to, &infected));
    assert!(wait_until(Duration::from_secs(20), || downloads() == 1), "{}", s.log());
    assert!(common::attack(&s.ns, to, &sample(2)));
    assert!(wait_until(Duration::from_secs(20), || downloads() == 2), "{}", s.log());
    let events = read(&s.path("events.json"));
    let lines: Vec<&str> = events.lines().filter(|l| l.contains("honeytrap.session.file_download\"")).collect();
    assert!(lines[0].contains("\"clamav\":\"Honeytrap.Test.Infected"), "{}", lines[0]);
    assert!(lines[1].contains("\"clamav\":\"clean\""), "{}", lines[1]);
    let log = s.log();
    assert!(
        log.contains(&format!(
            "ClamAV - Sample {} is infected with 'Honeytrap.Test.Infected",
            honeytrap::attack::md5_hex(&infected)
        )),
        "{log}"
    );

    // clamd gone: one warning, and the samples are still recorded.
    drop(guard);
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
    for seed in 3..6 {
        assert!(common::attack(&s.ns, to, &sample(seed)));
    }
    assert!(wait_until(Duration::from_secs(20), || downloads() == 5), "{}", s.log());
    let log = s.log();
    assert_eq!(log.matches("ClamAV - Warning - clamd at ").count(), 1, "{log}");
    assert!(!read(&s.path("events.json"))
        .lines()
        .skip_while(|l| !l.contains(&honeytrap::attack::md5_hex(&sample(3))))
        .any(|l| l.contains("\"clamav\"")));
    d.stop(Duration::from_secs(20)).unwrap();
}
