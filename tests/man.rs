//! The man pages are in step with the program: every option of `-h` appears in
//! honeytrap(8), every configuration key and plugin with its option keys in
//! honeytrap.conf(5), and both render without a warning.

mod common;

use honeytrap::cli::OPTIONS;
use honeytrap::config::{Plugin, PORTCONF_KEYS, TOP_LEVEL_KEYS};
use std::process::Command;

fn page(name: &str) -> String {
    std::fs::read_to_string(format!("{}/man/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// roff spelling of a word a user types: every '-' is written `\-`.
fn roff(s: &str) -> String {
    s.replace('-', "\\-")
}

#[test]
fn every_option_is_in_honeytrap_8_and_usage() {
    let man = page("honeytrap.8");
    let usage = honeytrap::cli::usage("honeytrap");
    for o in OPTIONS {
        let (man_form, usage_form) = if o.short.is_empty() {
            (format!("\\-\\-{}", roff(o.long)), format!("--{}", o.long))
        } else {
            (format!("\\-{}", o.short), format!("-{}", o.short))
        };
        assert!(man.contains(&man_form), "honeytrap.8 lacks {man_form}");
        if o.short != "?" {
            assert!(usage.contains(&usage_form), "usage lacks {usage_form}");
        }
    }
}

fn has_key(man: &str, key: &str) -> bool {
    let k = roff(key);
    man.lines().any(|l| {
        l.trim_end() == format!(".B {k}") || l.contains(&format!("\\fB{k}\\fR")) || l.starts_with(&format!(".B {k} "))
    })
}

#[test]
fn every_key_and_plugin_is_in_honeytrap_conf_5() {
    let man = page("honeytrap.conf.5");
    for k in TOP_LEVEL_KEYS.iter().chain(PORTCONF_KEYS) {
        assert!(has_key(&man, k), "honeytrap.conf.5 lacks key {k}");
    }
    for p in Plugin::ALL {
        let name = format!("plugin\\-{}", p.key_name());
        assert!(man.contains(&name), "honeytrap.conf.5 lacks {name}");
        for k in p.option_keys() {
            assert!(has_key(&man, k), "honeytrap.conf.5 lacks option {k} of {}", p.key_name());
        }
    }
}

#[test]
fn pages_render_without_warnings() {
    if Command::new("man").arg("--version").output().is_err() {
        common::skip("pages_render_without_warnings", "man(1) is not installed (man-db)");
        return;
    }
    for name in ["honeytrap.8", "honeytrap.conf.5"] {
        let path = format!("{}/man/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = Command::new("man")
            .args(["--warnings", "-l", &path])
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{name}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{name} renders with warnings");
        assert!(out.stdout.len() > 2000, "{name} renders to text");
    }
}
