//! Configuration files in the forms the C honeytrap's users run (its 1.1 main template and
//! port file, and the file T-Pot runs it with) must load unchanged and give the expected
//! settings.
//!
//! The files are in tests/data/compat (written for these tests in the same syntax and with
//! the same values). They name the users `nobody`/`honeytrap` and the groups
//! `nogroup`/`honeytrap`, which need not exist here, so the user and group lines are replaced
//! with `root` before loading (nothing is added to the system).

use honeytrap::config::{self, Config, ConfigError, Mode, Plugin, Proto};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

const COMPAT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/compat/");

/// The path and text of a compat file.
fn compat(name: &str) -> (PathBuf, String) {
    let path = Path::new(COMPAT_DIR).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
    (path, text)
}

/// The 1-based number of the first line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> u32 {
    let i = text.lines().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line {prefix:?}"));
    u32::try_from(i + 1).unwrap()
}

/// Replaces the values of the top-level `user` and `group` lines with `root`.
fn with_root_user(text: &str) -> String {
    let mut out = String::new();
    let mut replaced = 0;
    for line in text.lines() {
        let word = line.split(|c: char| c.is_whitespace() || c == '=').next().unwrap_or("");
        if word == "user" || word == "group" {
            out.push_str(&format!("{} = \"root\"", word));
            replaced += 1;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert_eq!(replaced, 2, "expected one user and one group line");
    out
}

fn load_as_root(path: &Path, text: &str) -> Config {
    config::load_str(&with_root_user(text), path, Path::new("/")).unwrap_or_else(|e| panic!("{}", e))
}

fn plugins(c: &Config) -> Vec<(Plugin, Vec<(&str, &str)>)> {
    c.plugins.iter().map(|p| (p.plugin, p.options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())).collect()
}

fn ports(c: &Config) -> Vec<String> {
    c.ports
        .iter()
        .map(|(proto, port, p)| match &p.proxy {
            Some(t) => format!(
                "{}/{} {} -> {}:{}/{} ({})",
                port,
                proto,
                p.mode,
                t.host,
                t.port,
                t.protocol.map_or("?", |p| p.name()),
                t.map
            ),
            None => format!("{}/{} {}", port, proto, p.mode),
        })
        .collect()
}

/// Only the "not implemented yet" remarks for the plugins, nothing else.
fn assert_only_plugin_warnings(c: &Config) {
    for w in &c.warnings {
        assert!(w.msg.contains("is not implemented yet"), "unexpected warning: {}", w);
    }
}

const PORTS_CONF_ENTRIES: [&str; 8] = [
    "25/tcp ignore",
    "1433/tcp ignore",
    "53/tcp normal",
    "53/udp normal",
    "23/tcp mirror",
    "80/tcp proxy -> 127.0.0.1:8080/tcp (proxy-http)",
    "8080/tcp proxy -> 127.0.0.1:8080/tcp (proxy-http)",
    "69/udp proxy -> tftp.localhost:69/udp (proxy-tftp)",
];

#[test]
fn upstream_honeytrap_conf_dist() {
    let (path, text) = compat("c-1.1-template.conf");
    let c = load_as_root(&path, &text);
    assert_eq!(c.source, path);
    assert_eq!(c.logfile, Path::new("/opt/honeytrap/honeytrap.log"));
    assert_eq!(c.pidfile, Path::new("/var/run/honeytrap.pid"));
    assert_eq!(c.response_dir, Path::new("/opt/honeytrap/etc/honeytrap/responses"));
    assert_eq!(c.plugin_dir, Path::new("/opt/honeytrap/etc/honeytrap/plugins"));
    assert!(!c.replace_private_ips);
    assert!(!c.promisc);
    assert_eq!(c.bind_address, Ipv4Addr::UNSPECIFIED);
    assert_eq!(c.read_limit, 20971520);
    assert_eq!(c.user.as_ref().map(|u| (u.name.as_str(), u.uid)), Some(("root", 0)));
    assert_eq!(c.group.as_ref().map(|g| (g.name.as_str(), g.gid)), Some(("root", 0)));
    assert_eq!(c.monitor, None);
    assert_eq!(
        plugins(&c),
        vec![
            (Plugin::FtpDownload, vec![]),
            (Plugin::TftpDownload, vec![]),
            (Plugin::B64Decode, vec![]),
            (Plugin::DeUnicode, vec![]),
            (Plugin::VncDownload, vec![]),
            (
                Plugin::SaveFile,
                vec![
                    ("attacks_dir", "/opt/honeytrap/var/honeytrap/attacks"),
                    ("downloads_dir", "/opt/honeytrap/var/honeytrap/downloads"),
                ]
            ),
        ]
    );
    assert_eq!(c.portconf_default, Mode::Normal);
    assert_eq!(ports(&c), vec!["22/tcp ignore"]);
    assert_only_plugin_warnings(&c);
}

#[test]
fn upstream_ports_conf_dist() {
    let (path, _) = compat("c-1.1-ports.conf");
    // No user or group here: the file loads verbatim.
    let c = config::load(&path, Path::new("/")).unwrap_or_else(|e| panic!("{}", e));
    assert_eq!(ports(&c), PORTS_CONF_ENTRIES);
    assert_eq!(c.ports.get(Proto::Udp, 69).unwrap().mode, Mode::Proxy);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn tpot_honeytrap_conf() {
    let (path, text) = compat("tpot.conf");
    let c = load_as_root(&path, &text);
    assert_eq!(c.logfile, Path::new("/opt/honeytrap/var/log/honeytrap.log"));
    assert_eq!(c.pidfile, Path::new("/var/run/honeytrap.pid"));
    assert_eq!(c.response_dir, Path::new("/opt/honeytrap/etc/honeytrap/responses"));
    assert_eq!(c.read_limit, 20971520);
    assert!(!c.replace_private_ips);
    assert_eq!(
        plugins(&c),
        vec![
            (Plugin::FtpDownload, vec![]),
            (Plugin::TftpDownload, vec![]),
            (Plugin::B64Decode, vec![]),
            (Plugin::DeUnicode, vec![]),
            (Plugin::VncDownload, vec![]),
            (
                Plugin::SaveFile,
                vec![("attacks_dir", "/opt/honeytrap/var/attacks"), ("downloads_dir", "/opt/honeytrap/var/downloads"),]
            ),
            (Plugin::LogAttacker, vec![("logfile", "/opt/honeytrap/var/log/attacker.log")]),
            (Plugin::LogJson, vec![("logfile", "/opt/honeytrap/var/log/attackers.json")]),
        ]
    );
    assert_eq!(c.portconf_default, Mode::Normal);
    assert!(c.ports.is_empty());
    // The keys of our own keep their defaults: queue 0 and one response per connection, as
    // T-Pot's build of the C honeytrap.
    assert_eq!((c.monitor, c.nfq_queue, c.response_policy), (None, 0, config::ResponsePolicy::Once));
    assert_eq!((c.max_connections, c.max_connections_per_source, c.session_limit), (None, 64, 300));
    assert_only_plugin_warnings(&c);
}

/// Loading the files verbatim either works (the users exist) or fails on the user line with
/// the C message.
#[test]
fn verbatim_files_fail_only_on_missing_users() {
    use honeytrap::sys::user::{group_by_name, user_by_name};
    for (name, user, group) in [("c-1.1-template.conf", "nobody", "nogroup"), ("tpot.conf", "honeytrap", "honeytrap")] {
        let (path, text) = compat(name);
        let line = line_of(&text, "user\t=");
        let result = config::load(&path, Path::new("/"));
        let user_ok = user_by_name(user).ok().flatten().is_some();
        let group_ok = group_by_name(group).ok().flatten().is_some();
        match result {
            Ok(c) => {
                assert!(user_ok && group_ok, "{}: loaded without the user/group", name);
                assert_eq!(c.user.unwrap().name, user);
            }
            Err(ConfigError::At { span, msg }) if !user_ok => {
                assert_eq!((span.file, span.line, span.col), (path.clone(), line, 8));
                assert_eq!(msg, format!("User {} not found.", user));
            }
            Err(ConfigError::At { span, msg }) => {
                assert!(!group_ok, "{}: {}", name, msg);
                assert_eq!((span.line, span.col), (line + 1, 9));
                assert_eq!(msg, format!("Group {} not found.", group));
            }
            Err(e) => panic!("{}: {}", name, e),
        }
    }
}

/// The 1.1 template with its `include = "ports.conf"` line enabled: the include comes
/// after the main portconf, so the included portconf is ignored (as in the C original) and
/// a warning says why. Put before it, the two portconf blocks merge.
#[test]
fn template_with_ports_conf_included() {
    let ((main_path, main), (ports_path, ports_text)) = (compat("c-1.1-template.conf"), compat("c-1.1-ports.conf"));
    let main = with_root_user(&main);
    let include_line = format!("include = \"{}\"\n", ports_path.display());

    let after = main.replace("//include = \"ports.conf\"", include_line.trim_end());
    assert_ne!(after, main);
    let c = config::load_str(&after, &main_path, Path::new("/")).unwrap_or_else(|e| panic!("{}", e));
    assert_eq!(ports(&c), vec!["22/tcp ignore"]);
    let late: Vec<String> =
        c.warnings.iter().filter(|w| !w.msg.contains("is not implemented yet")).map(|w| w.to_string()).collect();
    assert_eq!(
        late,
        vec![format!(
            "{}:{}:1: portconf in included file {} is ignored: portconf was already processed (put the include before it)",
            ports_path.display(),
            line_of(&ports_text, "portconf"),
            ports_path.display()
        )]
    );

    let before = format!("{}{}", include_line, main);
    let c = config::load_str(&before, &main_path, Path::new("/")).unwrap_or_else(|e| panic!("{}", e));
    let mut want = vec!["22/tcp ignore".to_string()];
    want.extend(PORTS_CONF_ENTRIES.iter().map(|s| s.to_string()));
    assert_eq!(ports(&c), want);
    // The included `protocol = "tcp"` of the ignore block is a dropped duplicate.
    let dropped: Vec<&config::Warning> = c.warnings.iter().filter(|w| w.msg.contains("already defined")).collect();
    assert_eq!(dropped.len(), 1, "{:?}", c.warnings);
    assert_eq!(dropped[0].span.file, ports_path);
}

#[test]
fn every_key_name_is_exported() {
    // The man page test elsewhere relies on these lists; keep them in step with
    // honeytrap.conf(5).
    for key in [
        "logfile",
        "pidfile",
        "response_dir",
        "plugin_dir",
        "read_limit",
        "bind_address",
        "replace_private_ips",
        "promisc",
        "user",
        "group",
        "include",
        "portconf_default",
        "portconf",
        "monitor",
        "nfq_queue",
        "response_policy",
        "max_connections",
        "max_connections_per_source",
        "max_listeners",
        "session_limit",
        "max_buffered_bytes",
        "download_timeout",
        "download_attack_timeout",
        "download_max_size",
        "downloads_per_attack",
        "downloads_in_flight",
        "download_max_redirects",
        "download_allow_local",
        "sensor_name",
        "http_download",
        "metrics_listen",
    ] {
        assert!(config::TOP_LEVEL_KEYS.contains(&key), "{}", key);
    }
    assert_eq!(config::TOP_LEVEL_KEYS.len(), 31);
    assert_eq!(config::PORTCONF_KEYS.len(), 9);
    assert!(!config::TOP_LEVEL_KEYS.iter().any(|k| k.starts_with("plugin-")));
}
