//! What each key means: the handlers that turn nodes of the key tree into [`Config`] fields.
//!
//! Replaces the key handlers of the C original's readconf.c (`process_confopt`,
//! `process_confopt_portconf*`, `process_confopt_plugin`) and the option readers of the
//! plugins. Error texts are the C ones where the C program had one (now with a file:line:col
//! prefix); values are validated more strictly than in C (ports 1..=65535 in decimal, protocols
//! exactly `tcp`/`udp`, no silent truncation; docs/COMPATIBILITY.md, Configuration file).
//! Handlers run once per value, as in the C original.

use super::tree::{resolve, strerror, Node, TOP_LEVEL_KEYS};
use super::values::{inet_aton, parse_decimal, parse_port, parse_proto, parse_read_limit};
use super::{
    Config, ConfigError, GroupSpec, Mode, MonitorKind, Plugin, PluginConfig, PortPolicy, Proto, ProxyTarget,
    ResponsePolicy, Span, UserSpec, Warning,
};
use crate::sys::user::{group_by_name, user_by_name};
use std::path::{Path, PathBuf};

/// Largest `max_buffered_bytes` accepted (1 TiB).
const MAX_BUFFERED_BYTES: u64 = 1 << 40;

fn at(span: &Span, msg: impl Into<String>) -> ConfigError {
    ConfigError::At { span: span.clone(), msg: msg.into() }
}

fn warn(cfg: &mut Config, span: &Span, msg: impl Into<String>) {
    cfg.warnings.push(Warning { span: span.clone(), msg: msg.into() });
}

/// Where to point for a node that has no value (`key = ""` or `key = []`).
pub(crate) fn empty_span(node: &Node) -> &Span {
    node.string_span.as_ref().or(node.list_span.as_ref()).unwrap_or(&node.span)
}

/// The string values of a node for a handler that runs once per value: `("", span)` once
/// when the node has no value. A block, or a list or block inside a list, is an error.
pub(crate) fn string_values(node: &Node) -> Result<Vec<(&str, &Span)>, ConfigError> {
    if let Some(s) = &node.block_span {
        return Err(at(s, format!("expected a string value for '{}', found a block", node.path)));
    }
    if let Some((s, kind)) = node.bad_items.first() {
        return Err(at(s, format!("expected a string value for '{}', found {} inside the list", node.path, kind)));
    }
    if node.values.is_empty() {
        return Ok(vec![("", empty_span(node))]);
    }
    Ok(node.values.iter().map(|v| (v.text.as_str(), &v.span)).collect())
}

/// A single-valued key given several values: every value is applied in turn (as in the C
/// original), so the last one wins; say so.
fn warn_several(cfg: &mut Config, node: &Node, values: &[(&str, &Span)]) {
    if values.len() > 1 {
        warn(cfg, values[1].1, format!("'{}' is given {} values; the last one is used", node.path, values.len()));
    }
}

/// A node that must be a block (`portconf`, its modes, proxy maps).
fn expect_block(node: &Node) -> Result<(), ConfigError> {
    let found = match (&node.string_span, &node.list_span) {
        (Some(s), _) => Some((s, "a string")),
        (None, Some(s)) => Some((s, "a list")),
        (None, None) => None,
    };
    match found {
        Some((s, what)) => Err(at(s, format!("expected a block for '{}', found {}", node.path, what))),
        None => Ok(()),
    }
}

fn invalid_keyword(node: &Node) -> ConfigError {
    at(&node.span, format!("Invalid keyword in configuration file: {}", node.name))
}

/// Runs the handler of one top-level node (`include` is handled by tree.rs).
pub(crate) fn top_level(node: &Node, cfg: &mut Config, base_dir: &Path) -> Result<(), ConfigError> {
    let key = node.name.as_str();
    if let Some(name) = key.strip_prefix("plugin-") {
        return plugin(node, name, cfg);
    }
    if !TOP_LEVEL_KEYS.contains(&key) {
        return Err(invalid_keyword(node));
    }
    match key {
        "portconf" => return portconf(node, cfg),
        "include" => return Ok(()),
        _ => {}
    }
    let values = string_values(node)?;
    warn_several(cfg, node, &values);
    for (text, span) in values {
        scalar(key, text, span, cfg, base_dir)?;
    }
    Ok(())
}

/// A value used as a path or a name: not empty, no NUL byte.
fn name_value<'a>(key: &str, text: &'a str, span: &Span) -> Result<&'a str, ConfigError> {
    if text.is_empty() {
        return Err(at(span, format!("{} must not be empty", key)));
    }
    if text.contains('\0') {
        return Err(at(span, format!("{} must not contain a NUL byte", key)));
    }
    Ok(text)
}

fn path_value(key: &str, text: &str, span: &Span, base_dir: &Path) -> Result<PathBuf, ConfigError> {
    Ok(resolve(base_dir, name_value(key, text, span)?))
}

fn invalid_value(key: &str, text: &str, span: &Span) -> ConfigError {
    at(span, format!("Invalid value '{}' for option '{}'.", text, key))
}

/// A decimal number in `min..=max` (see [`parse_decimal`]), else the "Invalid value" error.
fn number(key: &str, text: &str, span: &Span, min: u32, max: u32) -> Result<u32, ConfigError> {
    match parse_decimal(text, min.into(), max.into()) {
        Some(v) => Ok(v as u32),
        None => Err(invalid_value(key, text, span)),
    }
}

/// One value of a scalar top-level key.
fn scalar(key: &str, text: &str, span: &Span, cfg: &mut Config, base_dir: &Path) -> Result<(), ConfigError> {
    match key {
        "logfile" => cfg.logfile = path_value(key, text, span, base_dir)?,
        "pidfile" => cfg.pidfile = path_value(key, text, span, base_dir)?,
        "response_dir" => cfg.response_dir = path_value(key, text, span, base_dir)?,
        "plugin_dir" => cfg.plugin_dir = path_value(key, text, span, base_dir)?,
        "read_limit" => {
            cfg.read_limit = parse_read_limit(text).ok_or_else(|| at(span, "Read limit must be a positive value."))?
        }
        "bind_address" => {
            cfg.bind_address =
                inet_aton(text).ok_or_else(|| at(span, "Unable to convert IP address: Invalid argument."))?
        }
        "replace_private_ips" => {
            cfg.replace_private_ips = match text {
                "yes" => true,
                "no" => false,
                _ => return Err(invalid_value(key, text, span)),
            }
        }
        "promisc" => {
            cfg.promisc = match text {
                "on" => true,
                "off" => false,
                _ => return Err(invalid_value(key, text, span)),
            }
        }
        "monitor" => {
            cfg.monitor = Some(match text {
                "nfq" => MonitorKind::Nfq,
                "pcap" => MonitorKind::Pcap,
                _ => return Err(invalid_value(key, text, span)),
            })
        }
        "nfq_queue" => cfg.nfq_queue = number(key, text, span, 0, u16::MAX.into())? as u16,
        "response_policy" => {
            cfg.response_policy = match text {
                "once" => ResponsePolicy::Once,
                "repeat" => ResponsePolicy::Repeat,
                _ => return Err(invalid_value(key, text, span)),
            }
        }
        "max_connections" => cfg.max_connections = Some(number(key, text, span, 1, 1_000_000)?),
        "max_connections_per_source" => cfg.max_connections_per_source = number(key, text, span, 1, 1_000_000)?,
        "max_listeners" => cfg.max_listeners = number(key, text, span, 1, 131_072)?,
        "session_limit" => cfg.session_limit = number(key, text, span, 0, 86_400)?,
        "max_buffered_bytes" => {
            cfg.max_buffered_bytes = Some(
                parse_decimal(text, crate::budget::MIN, MAX_BUFFERED_BYTES)
                    .ok_or_else(|| invalid_value(key, text, span))?,
            )
        }
        "download_timeout" => cfg.download_timeout = number(key, text, span, 1, 3_600)?,
        "download_attack_timeout" => cfg.download_attack_timeout = number(key, text, span, 1, 86_400)?,
        "download_max_size" => cfg.download_max_size = number(key, text, span, 1, 1 << 30)?,
        "downloads_per_attack" => cfg.downloads_per_attack = number(key, text, span, 0, 32)?,
        "downloads_in_flight" => cfg.downloads_in_flight = number(key, text, span, 1, 1_024)?,
        "download_max_redirects" => cfg.download_max_redirects = number(key, text, span, 0, 20)?,
        "sensor_name" => {
            if text.is_empty() || text.len() > 255 || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(invalid_value(key, text, span));
            }
            cfg.sensor_name = Some(text.to_string());
        }
        "metrics_listen" => cfg.metrics_listen = Some(text.parse().map_err(|_| invalid_value(key, text, span))?),
        "http_download" => {
            cfg.http_download = match text {
                "yes" => true,
                "no" => false,
                _ => return Err(invalid_value(key, text, span)),
            }
        }
        "download_allow_local" => {
            cfg.download_allow_local = match text {
                "yes" => true,
                "no" => false,
                _ => return Err(invalid_value(key, text, span)),
            }
        }
        "user" => {
            let name = name_value(key, text, span)?;
            match user_by_name(name) {
                Ok(Some(pw)) => cfg.user = Some(UserSpec { name: name.to_string(), uid: pw.uid, gid: pw.gid }),
                Ok(None) => return Err(at(span, format!("User {} not found.", name))),
                Err(e) => return Err(at(span, format!("Invalid user '{}': {}.", name, strerror(&e)))),
            }
        }
        "group" => {
            let name = name_value(key, text, span)?;
            match group_by_name(name) {
                Ok(Some(gid)) => cfg.group = Some(GroupSpec { name: name.to_string(), gid }),
                Ok(None) => return Err(at(span, format!("Group {} not found.", name))),
                Err(e) => return Err(at(span, format!("Invalid group '{}': {}.", name, strerror(&e)))),
            }
        }
        "portconf_default" => {
            cfg.portconf_default = match text {
                "ignore" => Mode::Ignore,
                "normal" => Mode::Normal,
                "mirror" => Mode::Mirror,
                "proxy" => {
                    return Err(at(span, "Proxy mode as default port configuration is currently not supported."))
                }
                _ => return Err(at(span, format!("Unsupported default port configuration: {} .", text))),
            }
        }
        // TOP_LEVEL_KEYS and this match list the same keys.
        _ => return Err(at(span, format!("Invalid keyword in configuration file: {}", key))),
    }
    Ok(())
}

/// The `portconf` block (`process_confopt_portconf*`).
fn portconf(node: &Node, cfg: &mut Config) -> Result<(), ConfigError> {
    expect_block(node)?;
    for mode_node in &node.children {
        match mode_node.name.as_str() {
            "ignore" => simple_mode(mode_node, Mode::Ignore, cfg)?,
            "normal" => simple_mode(mode_node, Mode::Normal, cfg)?,
            "mirror" => simple_mode(mode_node, Mode::Mirror, cfg)?,
            "proxy" => proxy(mode_node, cfg)?,
            _ => return Err(invalid_keyword(mode_node)),
        }
    }
    Ok(())
}

/// `port` and `protocol` values collected from one block.
#[derive(Default)]
struct PortSet<'a> {
    ports: Vec<(u16, &'a Span)>,
    protocols: Vec<(&'a str, &'a Span)>,
}

impl<'a> PortSet<'a> {
    /// Takes `port`/`protocol` sub-keys; returns false for any other key.
    fn take(&mut self, child: &'a Node) -> Result<bool, ConfigError> {
        match child.name.as_str() {
            "port" => {
                for (text, span) in string_values(child)? {
                    let port = parse_port(text).ok_or_else(|| at(span, format!("Invalid port '{}'.", text)))?;
                    self.ports.push((port, span));
                }
            }
            "protocol" => self.protocols.extend(string_values(child)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Creates one port entry per protocol × port (protocols outer, as the C original).
    fn create(
        &self,
        block: &Node,
        mode: Mode,
        target: Option<&ProxyTarget>,
        cfg: &mut Config,
    ) -> Result<(), ConfigError> {
        let mut protocols: Vec<Proto> = Vec::new();
        for (text, span) in &self.protocols {
            let proto = parse_proto(text).ok_or_else(|| match self.ports.first() {
                Some((port, _)) => at(span, format!("Invalid protocol type for port {}.", port)),
                None => at(span, format!("Invalid protocol type '{}'.", text)),
            })?;
            protocols.push(proto);
        }
        if protocols.is_empty() && !self.ports.is_empty() {
            warn(cfg, &block.span, format!("'{}' lists ports but no protocol; no port entry is created", block.path));
        }
        if self.ports.is_empty() && !protocols.is_empty() {
            warn(cfg, &block.span, format!("'{}' has a protocol but no port; no port entry is created", block.path));
        }
        for &proto in &protocols {
            for &(port, span) in &self.ports {
                if cfg.ports.get(proto, port).is_some() {
                    return Err(at(span, format!("Duplicate configuration for port {}/{}.", port, proto)));
                }
                if mode == Mode::Proxy && target.is_none() {
                    return Err(at(span, format!("Proxy target for port {}/{} missing.", port, proto)));
                }
                let policy = PortPolicy { mode, proxy: target.cloned() };
                if cfg.ports.insert(proto, port, policy).is_err() {
                    // Checked above; kept as an error rather than a panic.
                    return Err(at(span, format!("Duplicate configuration for port {}/{}.", port, proto)));
                }
            }
        }
        Ok(())
    }
}

/// `ignore`, `normal` or `mirror` inside `portconf`.
fn simple_mode(node: &Node, mode: Mode, cfg: &mut Config) -> Result<(), ConfigError> {
    expect_block(node)?;
    let mut set = PortSet::default();
    for child in &node.children {
        if !set.take(child)? {
            return Err(invalid_keyword(child));
        }
    }
    set.create(node, mode, None, cfg)
}

/// `proxy` inside `portconf`: named maps.
fn proxy(node: &Node, cfg: &mut Config) -> Result<(), ConfigError> {
    expect_block(node)?;
    for map in &node.children {
        expect_block(map)?;
        let mut set = PortSet::default();
        let mut host: Option<String> = None;
        let mut port: Option<u16> = None;
        let mut protocol: Option<Proto> = None;
        for child in &map.children {
            if set.take(child)? {
                continue;
            }
            let values = match child.name.as_str() {
                "target_host" | "target_port" | "target_protocol" => string_values(child)?,
                _ => return Err(invalid_keyword(child)),
            };
            warn_several(cfg, child, &values);
            for (text, span) in values {
                match child.name.as_str() {
                    "target_host" if text.is_empty() => host = None,
                    "target_host" => host = Some(name_value("target_host", text, span)?.to_string()),
                    "target_port" if text.is_empty() => port = None,
                    "target_port" => {
                        port = Some(parse_port(text).ok_or_else(|| at(span, format!("Invalid port '{}'.", text)))?)
                    }
                    _ if text.is_empty() => protocol = None,
                    _ => {
                        protocol = Some(parse_proto(text).ok_or_else(|| {
                            at(span, format!("Invalid protocol type '{}' for target_protocol.", text))
                        })?)
                    }
                }
            }
        }
        let target = match (host, port) {
            (Some(host), Some(port)) => Some(ProxyTarget { map: map.name.clone(), host, port, protocol }),
            _ => None,
        };
        set.create(map, Mode::Proxy, target.as_ref(), cfg)?;
    }
    Ok(())
}

/// A `plugin-<Name>` entry (`process_confopt_plugin`).
fn plugin(node: &Node, name: &str, cfg: &mut Config) -> Result<(), ConfigError> {
    let Some(plugin) = Plugin::from_key_name(name) else {
        let hint = Plugin::closest(name).map_or(String::new(), |p| format!(" (did you mean plugin-{}?)", p.key_name()));
        return Err(at(&node.span, format!("Unable to load plugin htm_{}.so: no such plugin{}", name, hint)));
    };
    let not_a_block =
        node.list_span.as_ref().or(node.values.first().map(|v| &v.span)).or(node.bad_items.first().map(|(s, _)| s));
    if let Some(span) = not_a_block {
        return Err(at(span, format!("expected \"\" or an option block for plugin-{}", name)));
    }
    let mut options = Vec::new();
    for opt in &node.children {
        let nested = match (&opt.block_span, &opt.list_span) {
            (Some(s), _) => Some((s, "a block")),
            (None, Some(s)) => Some((s, "a list")),
            (None, None) => None,
        };
        if let Some((span, what)) = nested {
            return Err(at(span, format!("option '{}' of plugin-{} must be a string, found {}", opt.name, name, what)));
        }
        if !plugin.option_keys().contains(&opt.name.as_str()) {
            if plugin.validates_options() {
                return Err(at(
                    &opt.span,
                    format!("Invalid configuration option for plugin {}: {}", plugin.module_name(), opt.name),
                ));
            }
            warn(cfg, &opt.span, format!("option '{}' is ignored by plugin {}", opt.name, name));
            continue;
        }
        let value = opt.values.first().map(|v| v.text.clone()).unwrap_or_default();
        options.push((opt.name.clone(), value));
    }
    if matches!(plugin, Plugin::SubmitMwserv | Plugin::SubmitNebula) {
        // The services these fed (the mwcollect alliance's mwserv, Nebula) are gone.
        warn(
            cfg,
            &node.span,
            format!("plugin {} fed a service that no longer exists; the entry is accepted and has no effect", name),
        );
    } else if !plugin.implemented() {
        warn(
            cfg,
            &node.span,
            format!("plugin {} is not implemented yet; the entry is accepted and has no effect", name),
        );
    }
    cfg.plugins.push(PluginConfig { plugin, options, span: node.span.clone() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str as load_text;
    use crate::config::testutil::TempDir;
    use crate::config::{
        DEFAULT_LOGFILE, DEFAULT_MAX_CONNECTIONS_PER_SOURCE, DEFAULT_NFQ_QUEUE, DEFAULT_READ_LIMIT,
        DEFAULT_SESSION_LIMIT, PORTCONF_KEYS,
    };
    use std::net::Ipv4Addr;

    const BASE: &str = "/base";

    fn load(src: &str) -> Result<Config, ConfigError> {
        load_text(src, Path::new("c.conf"), Path::new(BASE))
    }

    fn ok(src: &str) -> Config {
        load(src).unwrap_or_else(|e| panic!("{:?}: {}", src, e))
    }

    fn err(src: &str) -> String {
        match load(src) {
            Ok(c) => panic!("{:?} was accepted: {:?}", src, c),
            Err(e) => e.to_string(),
        }
    }

    fn warnings(c: &Config) -> Vec<String> {
        c.warnings.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn defaults() {
        let c = ok("");
        let d = Config { source: PathBuf::from("c.conf"), ..Config::default() };
        assert_eq!(c, d);
        assert_eq!(c.logfile, Path::new(DEFAULT_LOGFILE));
        assert_eq!((c.read_limit, DEFAULT_READ_LIMIT), (20 << 20, 20 << 20));
        assert_eq!(c.max_buffered_bytes, None);
        assert_eq!(c.bind_address, Ipv4Addr::UNSPECIFIED);
        assert_eq!(c.portconf_default, Mode::None);
        assert_eq!(c.nfq_queue, 0);
        assert_eq!(c.response_policy, ResponsePolicy::Once);
        assert_eq!(c.max_connections, None);
        assert_eq!(c.max_connections_per_source, 64);
        assert_eq!(c.session_limit, 300);
        assert_eq!((DEFAULT_NFQ_QUEUE, DEFAULT_MAX_CONNECTIONS_PER_SOURCE, DEFAULT_SESSION_LIMIT), (0, 64, 300));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn path_keys() {
        for key in ["logfile", "pidfile", "response_dir", "plugin_dir"] {
            let get = |c: &Config| match key {
                "logfile" => c.logfile.clone(),
                "pidfile" => c.pidfile.clone(),
                "response_dir" => c.response_dir.clone(),
                _ => c.plugin_dir.clone(),
            };
            assert_eq!(get(&ok(&format!("{key} = \"/abs/x\""))), Path::new("/abs/x"));
            assert_eq!(get(&ok(&format!("{key} = \"rel/x\""))), Path::new("/base/rel/x"));
            assert_eq!(get(&ok(&format!("{key} = \"/a\" {key} = \"/b\""))), Path::new("/a"));
            assert_eq!(err(&format!("{key} = \"\"")), format!("c.conf:1:{}: {key} must not be empty", key.len() + 4));
            assert_eq!(
                err(&format!("{key} = \"/a\\0b\"")),
                format!("c.conf:1:{}: {key} must not contain a NUL byte", key.len() + 4)
            );
            assert_eq!(
                err(&format!("{key} = {{ a = \"b\" }}")),
                format!("c.conf:1:{}: expected a string value for '{key}', found a block", key.len() + 4)
            );
        }
        // Several values: each applied, the last wins, with a warning.
        let c = ok("logfile = [\"/a\", \"/b\"]");
        assert_eq!(c.logfile, Path::new("/b"));
        assert_eq!(warnings(&c), vec!["c.conf:1:18: 'logfile' is given 2 values; the last one is used"]);
        // plugin_dir need not exist.
        assert_eq!(ok("plugin_dir = \"/no/such/dir\"").plugin_dir, Path::new("/no/such/dir"));
    }

    #[test]
    fn max_buffered_bytes() {
        assert_eq!(ok("max_buffered_bytes = \"1048576\"").max_buffered_bytes, Some(1 << 20));
        assert_eq!(ok("max_buffered_bytes = \"1099511627776\"").max_buffered_bytes, Some(1 << 40));
        for bad in ["0", "1048575", "1099511627777", "", "-1", "1G", " 1048576", "0x100000"] {
            assert_eq!(
                err(&format!("max_buffered_bytes = \"{bad}\"")),
                format!("c.conf:1:22: Invalid value '{bad}' for option 'max_buffered_bytes'."),
                "value {bad:?}"
            );
        }
    }

    #[test]
    fn read_limit() {
        assert_eq!(ok("read_limit = \"20971520\"").read_limit, 20971520);
        assert_eq!(ok("read_limit = \"2147483647\"").read_limit, 2147483647);
        for bad in ["0", "-1", "", "2147483648", "20MB", " 5", "0x10", "abc"] {
            assert_eq!(
                err(&format!("read_limit = \"{bad}\"")),
                "c.conf:1:14: Read limit must be a positive value.",
                "value {bad:?}"
            );
        }
    }

    #[test]
    fn bind_address() {
        assert_eq!(ok("bind_address = \"127.0.0.1\"").bind_address, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(ok("bind_address = \"127.1\"").bind_address, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(ok("bind_address = \"0x7f.0.0.1\"").bind_address, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(ok("bind_address = \"0177.0.0.1\"").bind_address, Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(ok("bind_address = \"16909060\"").bind_address, Ipv4Addr::new(1, 2, 3, 4));
        for bad in ["", "localhost", "1.2.3.256", "1.2.3.4.5", "::1"] {
            assert_eq!(
                err(&format!("bind_address = \"{bad}\"")),
                "c.conf:1:16: Unable to convert IP address: Invalid argument.",
                "value {bad:?}"
            );
        }
    }

    #[test]
    fn switches() {
        assert!(ok("replace_private_ips = \"yes\"").replace_private_ips);
        assert!(!ok("replace_private_ips = \"no\"").replace_private_ips);
        assert!(ok("promisc = \"on\"").promisc);
        assert!(!ok("promisc = \"off\"").promisc);
        assert_eq!(ok("monitor = \"nfq\"").monitor, Some(MonitorKind::Nfq));
        assert_eq!(ok("monitor = \"pcap\"").monitor, Some(MonitorKind::Pcap));
        assert_eq!(ok("").monitor, None);
        let cases = [
            ("replace_private_ips", "Yes"),
            ("replace_private_ips", "1"),
            ("replace_private_ips", ""),
            ("promisc", "yes"),
            ("promisc", "ON"),
            ("promisc", ""),
            ("monitor", "ipq"),
            ("monitor", "NFQ"),
            ("monitor", ""),
            ("download_allow_local", "YES"),
            ("sensor_name", ""),
            ("http_download", "on"),
            ("sensor_name", "two words"),
            ("download_allow_local", "on"),
            ("metrics_listen", "9100"),
            ("metrics_listen", "localhost:9100"),
            ("metrics_listen", "::1:9100"),
        ];
        for (key, bad) in cases {
            assert_eq!(
                err(&format!("{key} = \"{bad}\"")),
                format!("c.conf:1:{}: Invalid value '{bad}' for option '{key}'.", key.len() + 4)
            );
        }
    }

    /// The numeric keys of our own, with a getter, their range and their default.
    #[allow(clippy::type_complexity)]
    const NUMBER_KEYS: &[(&str, fn(&Config) -> u64, u64, u64, u64)] = &[
        ("nfq_queue", |c| c.nfq_queue.into(), 0, 65535, 0),
        // No default: 0 stands for "not set", the computed capacity.
        ("max_connections", |c| c.max_connections.map_or(0, u64::from), 1, 1_000_000, 0),
        ("max_connections_per_source", |c| c.max_connections_per_source.into(), 1, 1_000_000, 64),
        ("max_listeners", |c| c.max_listeners.into(), 1, 131_072, 4096),
        ("session_limit", |c| c.session_limit.into(), 0, 86_400, 300),
        ("download_timeout", |c| c.download_timeout.into(), 1, 3_600, 120),
        ("download_attack_timeout", |c| c.download_attack_timeout.into(), 1, 86_400, 300),
        ("download_max_size", |c| c.download_max_size.into(), 1, 1 << 30, 32 << 20),
        ("downloads_per_attack", |c| c.downloads_per_attack.into(), 0, 32, 16),
        ("downloads_in_flight", |c| c.downloads_in_flight.into(), 1, 1_024, 16),
        ("download_max_redirects", |c| c.download_max_redirects.into(), 0, 20, 5),
    ];

    #[test]
    fn number_keys_accept_their_range() {
        for &(key, get, min, max, default) in NUMBER_KEYS {
            assert_eq!(get(&ok("")), default, "{key} default");
            for (text, want) in [
                (min.to_string(), min),
                (max.to_string(), max),
                (((min + max) / 2).to_string(), (min + max) / 2),
                (format!("000{max}"), max),
                (default.max(min).to_string(), default.max(min)),
            ] {
                let c = ok(&format!("{key} = \"{text}\""));
                assert_eq!(get(&c), want, "{key} = {text:?}");
                assert!(c.warnings.is_empty(), "{key}: {:?}", c.warnings);
            }
        }
        assert_eq!(ok("nfq_queue = \"7\"").nfq_queue, 7);
        assert_eq!(ok("session_limit = \"0\"").session_limit, 0);
    }

    #[test]
    fn number_keys_reject_everything_else() {
        for &(key, _, min, max, _) in NUMBER_KEYS {
            let mut bad: Vec<String> =
                ["", "-1", "+1", " 1", "1 ", "0x10", "1e3", "12s", "abc", "1.5", "99999999999999999999999"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
            bad.push((max + 1).to_string());
            if min > 0 {
                bad.push((min - 1).to_string());
            }
            for text in bad {
                assert_eq!(
                    err(&format!("{key} = \"{text}\"")),
                    format!("c.conf:1:{}: Invalid value '{text}' for option '{key}'.", key.len() + 4),
                    "{key} = {text:?}"
                );
            }
        }
        // The position is the one of the value, also further down and in a list.
        assert_eq!(
            err("logfile = \"/l\"\n\n   max_connections =\n      \"0\""),
            "c.conf:4:7: Invalid value '0' for option 'max_connections'."
        );
        assert_eq!(
            err("session_limit = [\"10\", \"86401\"]"),
            "c.conf:1:24: Invalid value '86401' for option 'session_limit'."
        );
        assert_eq!(
            err("nfq_queue = { a = \"1\" }"),
            "c.conf:1:13: expected a string value for 'nfq_queue', found a block"
        );
    }

    #[test]
    fn metrics_listen() {
        assert_eq!(ok("").metrics_listen, None);
        assert_eq!(ok("metrics_listen = \"127.0.0.1:9100\"").metrics_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert_eq!(ok("metrics_listen = \"[::1]:9100\"").metrics_listen, Some("[::1]:9100".parse().unwrap()));
    }

    #[test]
    fn sensor_name() {
        assert_eq!(ok("").sensor_name, None);
        assert!(!ok("").sensor().is_empty());
        let c = ok("sensor_name = \"tpot-fra-01\"");
        assert_eq!((c.sensor_name.as_deref(), c.sensor()), (Some("tpot-fra-01"), "tpot-fra-01".to_string()));
    }

    #[test]
    fn response_policy() {
        assert_eq!(ok("").response_policy, ResponsePolicy::Once);
        assert_eq!(ok("response_policy = \"once\"").response_policy, ResponsePolicy::Once);
        assert_eq!(ok("response_policy = \"repeat\"").response_policy, ResponsePolicy::Repeat);
        assert_eq!(ResponsePolicy::default(), ResponsePolicy::Once);
        assert_eq!((ResponsePolicy::Once.to_string(), ResponsePolicy::Repeat.name()), ("once".into(), "repeat"));
        for bad in ["", "Once", "REPEAT", "always", "1", " once", "once "] {
            assert_eq!(
                err(&format!("response_policy = \"{bad}\"")),
                format!("c.conf:1:19: Invalid value '{bad}' for option 'response_policy'.")
            );
        }
    }

    #[test]
    fn new_keys_first_value_wins() {
        let c = ok("nfq_queue = \"1\"\nresponse_policy = \"repeat\"\nmax_connections = \"10\"\n\
                    max_connections_per_source = \"2\"\nsession_limit = \"60\"\n\
                    nfq_queue = \"2\"\nresponse_policy = \"once\"\nmax_connections = \"20\"\n\
                    max_connections_per_source = \"3\"\nsession_limit = \"0\"");
        assert_eq!(
            (c.nfq_queue, c.response_policy, c.max_connections, c.max_connections_per_source, c.session_limit),
            (1, ResponsePolicy::Repeat, Some(10), 2, 60)
        );
        assert_eq!(
            warnings(&c),
            vec![
                "c.conf:6:1: 'nfq_queue' is already defined at line 1, col 1; this value is ignored (the first value wins)",
                "c.conf:7:1: 'response_policy' is already defined at line 2, col 1; this value is ignored (the first value wins)",
                "c.conf:8:1: 'max_connections' is already defined at line 3, col 1; this value is ignored (the first value wins)",
                "c.conf:9:1: 'max_connections_per_source' is already defined at line 4, col 1; this value is ignored (the first value wins)",
                "c.conf:10:1: 'session_limit' is already defined at line 5, col 1; this value is ignored (the first value wins)",
            ]
        );
        // A dropped later value is not even validated (it never reaches the handler).
        assert_eq!(ok("session_limit = \"5\" session_limit = \"bogus\"").session_limit, 5);
        // An included file does not override a value of the main file either.
        let d = TempDir::new("newkeys");
        d.write("inc.conf", "max_connections = \"7\"\nsession_limit = \"9\"");
        let c = load_text("max_connections = \"5\"\ninclude = \"inc.conf\"", Path::new("c.conf"), d.path()).unwrap();
        assert_eq!((c.max_connections, c.session_limit), (Some(5), 9));
        assert!(warnings(&c)[0].contains("'max_connections' is already defined"), "{:?}", c.warnings);
        // Several values in a list: each is applied, the last one wins (as for every key).
        let c = ok("max_connections_per_source = [\"8\", \"16\"]");
        assert_eq!(c.max_connections_per_source, 16);
        assert_eq!(
            warnings(&c),
            vec!["c.conf:1:36: 'max_connections_per_source' is given 2 values; the last one is used"]
        );
    }

    #[test]
    fn user_and_group() {
        let c = ok("user = \"root\"\ngroup = \"root\"");
        assert_eq!(c.user, Some(UserSpec { name: "root".into(), uid: 0, gid: 0 }));
        assert_eq!(c.group, Some(GroupSpec { name: "root".into(), gid: 0 }));
        assert_eq!(
            err("user = \"no-such-user-honeytrap-cfg\""),
            "c.conf:1:8: User no-such-user-honeytrap-cfg not found."
        );
        assert_eq!(
            err("group = \"no-such-group-honeytrap-cfg\""),
            "c.conf:1:9: Group no-such-group-honeytrap-cfg not found."
        );
        assert_eq!(err("user = \"\""), "c.conf:1:8: user must not be empty");
        assert_eq!(err("group = \"\""), "c.conf:1:9: group must not be empty");
        assert_eq!(err("user = \"ro\\0ot\""), "c.conf:1:8: user must not contain a NUL byte");
        assert_eq!(err("group = \"ro\\0ot\""), "c.conf:1:9: group must not contain a NUL byte");
    }

    #[test]
    fn portconf_default() {
        assert_eq!(ok("portconf_default = \"ignore\"").portconf_default, Mode::Ignore);
        assert_eq!(ok("portconf_default = \"normal\"").portconf_default, Mode::Normal);
        assert_eq!(ok("portconf_default = \"mirror\"").portconf_default, Mode::Mirror);
        assert_eq!(
            err("portconf_default = \"proxy\""),
            "c.conf:1:20: Proxy mode as default port configuration is currently not supported."
        );
        assert_eq!(err("portconf_default = \"none\""), "c.conf:1:20: Unsupported default port configuration: none .");
        assert_eq!(err("portconf_default = \"\""), "c.conf:1:20: Unsupported default port configuration:  .");
    }

    #[test]
    fn unknown_and_misshapen_top_level_keys() {
        assert_eq!(err("\n  bogus = \"x\""), "c.conf:2:3: Invalid keyword in configuration file: bogus");
        assert_eq!(err("ignore = { port = \"1\" }"), "c.conf:1:1: Invalid keyword in configuration file: ignore");
        // Keys are case-sensitive.
        assert_eq!(err("LogFile = \"/x\""), "c.conf:1:1: Invalid keyword in configuration file: LogFile");
        assert_eq!(
            err("read_limit = [[\"1\"]]"),
            "c.conf:1:15: expected a string value for 'read_limit', found a list inside the list"
        );
        assert_eq!(
            err("user = [{ a = \"b\" }]"),
            "c.conf:1:9: expected a string value for 'user', found a block inside the list"
        );
        assert_eq!(err("portconf = \"x\""), "c.conf:1:12: expected a block for 'portconf', found a string");
        assert_eq!(err("portconf = [\"x\"]"), "c.conf:1:12: expected a block for 'portconf', found a list");
        // Every listed key is accepted by the processor (none falls through to the
        // "Invalid keyword" arm of `scalar`).
        for key in TOP_LEVEL_KEYS {
            let e = load(&format!("{key} = \"\"")).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!e.contains("Invalid keyword"), "{key}: {e}");
        }
    }

    fn ports(c: &Config) -> Vec<String> {
        c.ports
            .iter()
            .map(|(proto, port, p)| match &p.proxy {
                Some(t) => format!(
                    "{port}/{proto} {} {}->{}:{}/{}",
                    p.mode,
                    t.map,
                    t.host,
                    t.port,
                    t.protocol.map_or("-", |p| p.name())
                ),
                None => format!("{port}/{proto} {}", p.mode),
            })
            .collect()
    }

    #[test]
    fn portconf_entries() {
        let c = ok(r#"
            portconf = {
                ignore = { protocol = "tcp" port = ["25", "1433"] }
                normal = { protocol = ["tcp", "udp"] port = ["53"] }
                mirror = { protocol = ["tcp"] port = ["23"] }
                proxy = {
                    proxy-http = { protocol = ["tcp"] port = ["80", "8080"]
                        target_host = "127.0.0.1" target_protocol = "tcp" target_port = "8080" }
                    proxy-tftp = { protocol = ["udp"] port = ["69"]
                        target_host = "tftp.localhost" target_port = "69" }
                }
            }"#);
        assert_eq!(
            ports(&c),
            vec![
                "25/tcp ignore",
                "1433/tcp ignore",
                "53/tcp normal",
                "53/udp normal",
                "23/tcp mirror",
                "80/tcp proxy proxy-http->127.0.0.1:8080/tcp",
                "8080/tcp proxy proxy-http->127.0.0.1:8080/tcp",
                "69/udp proxy proxy-tftp->tftp.localhost:69/-",
            ]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.ports.mode_for(Mode::Normal, Proto::Tcp, 1433), Mode::Ignore);
        assert_eq!(c.ports.mode_for(Mode::Mirror, Proto::Udp, 1433), Mode::Mirror);
    }

    #[test]
    fn portconf_combinations_protocol_outer_and_repeated_blocks() {
        let c = ok(r#"portconf = { normal = { port = ["1", "2"] protocol = ["udp", "tcp"] } }"#);
        assert_eq!(ports(&c), vec!["1/udp normal", "2/udp normal", "1/tcp normal", "2/tcp normal"]);
        // Two blocks for the same mode: list items form the union.
        let c = ok(r#"portconf = { ignore = { protocol = "tcp" port = ["1"] } }
                      portconf = { ignore = { port = ["2"] } }"#);
        assert_eq!(ports(&c), vec!["1/tcp ignore", "2/tcp ignore"]);
        // Scalar port then list port: both.
        let c = ok(r#"portconf = { ignore = { protocol = "tcp" port = "1" port = ["2"] } }"#);
        assert_eq!(ports(&c), vec!["1/tcp ignore", "2/tcp ignore"]);
        // List then scalar: the scalar is dropped (warned).
        let c = ok(r#"portconf = { ignore = { protocol = "tcp" port = ["1"] port = "2" } }"#);
        assert_eq!(ports(&c), vec!["1/tcp ignore"]);
        assert_eq!(c.warnings.len(), 1);
        // Empty blocks are fine.
        assert!(ok("portconf = { } portconf = { proxy = { } ignore = { } }").ports.is_empty());
    }

    #[test]
    fn portconf_errors() {
        let cases: &[(&str, &str)] = &[
            (
                r#"portconf = { ignored = { } }"#,
                "c.conf:1:14: Invalid keyword in configuration file: ignored",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" ports = ["1"] } }"#,
                "c.conf:1:42: Invalid keyword in configuration file: ports",
            ),
            (
                r#"portconf = { normal = { target_host = "x" } }"#,
                "c.conf:1:25: Invalid keyword in configuration file: target_host",
            ),
            (
                r#"portconf = { proxy = { m = { host = "x" } } }"#,
                "c.conf:1:30: Invalid keyword in configuration file: host",
            ),
            (
                r#"portconf = { ignore = "tcp" }"#,
                "c.conf:1:23: expected a block for 'portconf.ignore', found a string",
            ),
            (
                r#"portconf = { proxy = { m = ["x"] } }"#,
                "c.conf:1:28: expected a block for 'portconf.proxy.m', found a list",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" port = { a = "1" } } }"#,
                "c.conf:1:49: expected a string value for 'portconf.ignore.port', found a block",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" port = "0" } }"#,
                "c.conf:1:49: Invalid port '0'.",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" port = ["22", "70000"] } }"#,
                "c.conf:1:56: Invalid port '70000'.",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" port = "ssh" } }"#,
                "c.conf:1:49: Invalid port 'ssh'.",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" port = "" } }"#,
                "c.conf:1:49: Invalid port ''.",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcpx" port = "22" } }"#,
                "c.conf:1:36: Invalid protocol type for port 22.",
            ),
            (
                r#"portconf = { ignore = { protocol = ["tcp", "t"] port = ["7", "8"] } }"#,
                "c.conf:1:44: Invalid protocol type for port 7.",
            ),
            (
                r#"portconf = { ignore = { protocol = "" port = "22" } }"#,
                "c.conf:1:36: Invalid protocol type for port 22.",
            ),
            (
                r#"portconf = { ignore = { protocol = "icmp" } }"#,
                "c.conf:1:36: Invalid protocol type 'icmp'.",
            ),
            (
                r#"portconf = { ignore = { protocol = "tcp" port = ["22", "22"] } }"#,
                "c.conf:1:56: Duplicate configuration for port 22/tcp.",
            ),
            (
                "portconf = { ignore = { protocol = \"udp\" port = \"53\" }\n normal = { protocol = [\"tcp\", \"udp\"] port = \"53\" } }",
                "c.conf:2:46: Duplicate configuration for port 53/udp.",
            ),
            (
                "portconf = { proxy = { m = { protocol = \"tcp\" port = \"80\" target_host = \"h\" } } }",
                "c.conf:1:54: Proxy target for port 80/tcp missing.",
            ),
            (
                "portconf = { proxy = { m = { protocol = \"tcp\" port = \"80\" target_port = \"8\" } } }",
                "c.conf:1:54: Proxy target for port 80/tcp missing.",
            ),
            (
                "portconf = { proxy = { m = { protocol = \"udp\" port = \"80\" target_host = \"\" target_port = \"8\" } } }",
                "c.conf:1:54: Proxy target for port 80/udp missing.",
            ),
            (
                "portconf = { proxy = { m = { protocol = \"tcp\" port = \"80\" target_host = \"h\" target_port = \"0\" } } }",
                "c.conf:1:91: Invalid port '0'.",
            ),
            (
                "portconf = { proxy = { m = { protocol = \"tcp\" port = \"80\" target_host = \"h\" target_port = \"8\" target_protocol = \"sctp\" } } }",
                "c.conf:1:113: Invalid protocol type 'sctp' for target_protocol.",
            ),
            (
                "portconf = { proxy = { m = { protocol = \"tcp\" port = \"80\" target_host = \"a\\0b\" target_port = \"8\" } } }",
                "c.conf:1:73: target_host must not contain a NUL byte",
            ),
            (
                "portconf = { mirror = { protocol = \"tcp\" port = \"23\" } proxy = { m = { protocol = \"tcp\" port = \"23\" target_host = \"h\" target_port = \"8\" } } }",
                "c.conf:1:96: Duplicate configuration for port 23/tcp.",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(err(src), *want, "input {}", src);
        }
    }

    #[test]
    fn portconf_warnings() {
        let c = ok(
            r#"portconf = { ignore = { port = ["22"] } proxy = { m = { port = "80" target_host = "h" target_port = "8" } } }"#,
        );
        assert!(c.ports.is_empty());
        assert_eq!(
            warnings(&c),
            vec![
                "c.conf:1:14: 'portconf.ignore' lists ports but no protocol; no port entry is created",
                "c.conf:1:51: 'portconf.proxy.m' lists ports but no protocol; no port entry is created",
            ]
        );
        let c = ok(r#"portconf = { mirror = { protocol = "tcp" } }"#);
        assert_eq!(
            warnings(&c),
            vec!["c.conf:1:14: 'portconf.mirror' has a protocol but no port; no port entry is created"]
        );
        // A target value given twice: the last one is used.
        let c = ok(
            r#"portconf = { proxy = { m = { protocol = "tcp" port = "80" target_host = ["a", "b"] target_port = "8" } } }"#,
        );
        assert_eq!(c.ports.get(Proto::Tcp, 80).unwrap().proxy.as_ref().unwrap().host, "b");
        assert_eq!(
            warnings(&c),
            vec!["c.conf:1:79: 'portconf.proxy.m.target_host' is given 2 values; the last one is used"]
        );
    }

    #[test]
    fn portconf_keys_constant_matches_the_processor() {
        // Every documented portconf key is accepted somewhere in a valid portconf.
        let src = r#"portconf = { ignore = { protocol = "tcp" port = "1" } normal = { protocol = "tcp" port = "2" }
                     mirror = { protocol = "tcp" port = "3" }
                     proxy = { m = { protocol = "tcp" port = "4" target_host = "h" target_port = "5" target_protocol = "udp" } } }"#;
        for key in PORTCONF_KEYS {
            assert!(src.contains(&format!("{key} =")), "{key}");
        }
        assert_eq!(ok(src).ports.len(), 4);
    }

    #[test]
    fn plugins() {
        let c = ok(r#"
            plugin-ftpDownload = ""
            plugin-SaveFile = { attacks_dir = "rel/attacks" downloads_dir = "/d" }
            plugin-logJSON = { }
            plugin-logAttacker = { logfile = "" }"#);
        let got: Vec<(&str, Vec<(String, String)>)> =
            c.plugins.iter().map(|p| (p.plugin.key_name(), p.options.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("ftpDownload", vec![]),
                ("SaveFile", vec![("attacks_dir".into(), "rel/attacks".into()), ("downloads_dir".into(), "/d".into())]),
                ("logJSON", vec![]),
                ("logAttacker", vec![("logfile".into(), "".into())]),
            ]
        );
        assert_eq!(c.plugins[1].option("downloads_dir"), Some("/d"));
        assert_eq!((c.plugins[1].span.line, c.plugins[1].span.col), (3, 13));
        // Every analysis plugin of the C honeytrap is implemented; submitPostgres only in builds
        // with its feature, and is reported otherwise.
        let c2 = ok("plugin-cspm = { shellcode_sigfile = \"s\" }\nplugin-SaveFile = { }");
        assert!(warnings(&c2).is_empty(), "{:?}", warnings(&c2));
        let c4 = ok("plugin-submitPostgres = { db_host = \"h\" }");
        if cfg!(feature = "postgres") {
            assert!(warnings(&c4).is_empty(), "{:?}", warnings(&c4));
        } else {
            assert_eq!(
                warnings(&c4),
                ["c.conf:1:1: plugin submitPostgres is not implemented yet; the entry is accepted and has no effect"]
            );
        }
        assert!(c.warnings.is_empty(), "{:?}", warnings(&c));
        assert!(!warnings(&c).iter().any(|w| w.contains("SaveFile") || w.contains("ftpDownload")));
        // Those that fed services that are gone say so.
        let c3 = ok("plugin-submitMWserv = { guid = \"g\" }\nplugin-submitNebula = \"\"");
        assert_eq!(
            warnings(&c3),
            [
                "c.conf:1:1: plugin submitMWserv fed a service that no longer exists; the entry is accepted and has no effect",
                "c.conf:2:1: plugin submitNebula fed a service that no longer exists; the entry is accepted and has no effect"
            ]
        );
    }

    #[test]
    fn every_plugin_name_and_option_is_accepted() {
        for p in Plugin::ALL {
            let opts: Vec<String> = p.option_keys().iter().map(|k| format!("{k} = \"v-{k}\"")).collect();
            let c = ok(&format!("plugin-{} = {{ {} }}", p.key_name(), opts.join(" ")));
            assert_eq!(c.plugins.len(), 1);
            assert_eq!(c.plugins[0].plugin, p);
            assert_eq!(c.plugins[0].options.len(), p.option_keys().len());
            for k in p.option_keys() {
                assert_eq!(c.plugins[0].option(k), Some(format!("v-{k}").as_str()));
            }
        }
    }

    #[test]
    fn plugin_rules() {
        // Options in file order, first value of a key wins (warned).
        let c = ok(r#"plugin-SaveFile = { downloads_dir = "/d1" attacks_dir = "/a" downloads_dir = "/d2" }"#);
        assert_eq!(
            c.plugins[0].options,
            vec![("downloads_dir".into(), "/d1".into()), ("attacks_dir".into(), "/a".into())]
        );
        assert!(warnings(&c)[0].contains("'plugin-SaveFile.downloads_dir' is already defined"));
        // A plugin configured twice: the first entry wins.
        let c = ok("plugin-logJSON = { logfile = \"/a\" }\nplugin-logJSON = { logfile = \"/b\" }");
        assert_eq!(c.plugins.len(), 1);
        assert_eq!(c.plugins[0].option("logfile"), Some("/a"));
        assert_eq!(
            warnings(&c)[0],
            "c.conf:2:1: plugin-logJSON is configured more than once; this entry is ignored (the first one, at line 1, col 1, is used)"
        );
        // Unknown options: ignored with a warning by plugins without an option parser.
        let c = ok("plugin-ftpDownload = { whatever = \"x\" }");
        assert!(c.plugins[0].options.is_empty());
        assert_eq!(warnings(&c)[0], "c.conf:1:24: option 'whatever' is ignored by plugin ftpDownload");
    }

    #[test]
    fn plugin_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "plugin-SavePostgres = { db_host = \"x\" }",
                "c.conf:1:1: Unable to load plugin htm_SavePostgres.so: no such plugin (did you mean plugin-submitPostgres?)",
            ),
            (
                "plugin-savefile = \"\"",
                "c.conf:1:1: Unable to load plugin htm_savefile.so: no such plugin (did you mean plugin-SaveFile?)",
            ),
            (
                "plugin-SaveFlie = \"\"",
                "c.conf:1:1: Unable to load plugin htm_SaveFlie.so: no such plugin (did you mean plugin-SaveFile?)",
            ),
            ("plugin-logXML = \"\"", "c.conf:1:1: Unable to load plugin htm_logXML.so: no such plugin"),
            ("plugin-Download = \"\"", "c.conf:1:1: Unable to load plugin htm_Download.so: no such plugin"),
            ("plugin- = \"\"", "c.conf:1:1: Unable to load plugin htm_.so: no such plugin"),
            ("plugin-SaveFile = \"x\"", "c.conf:1:19: expected \"\" or an option block for plugin-SaveFile"),
            ("plugin-SaveFile = [\"x\"]", "c.conf:1:19: expected \"\" or an option block for plugin-SaveFile"),
            ("plugin-SaveFile = []", "c.conf:1:19: expected \"\" or an option block for plugin-SaveFile"),
            (
                "plugin-SaveFile = { attacks_dir = { a = \"b\" } }",
                "c.conf:1:35: option 'attacks_dir' of plugin-SaveFile must be a string, found a block",
            ),
            (
                "plugin-SaveFile = { attacks_dir = [\"a\"] }",
                "c.conf:1:35: option 'attacks_dir' of plugin-SaveFile must be a string, found a list",
            ),
            (
                "plugin-SaveFile = { attack_dir = \"/a\" }",
                "c.conf:1:21: Invalid configuration option for plugin SaveFile: attack_dir",
            ),
            ("plugin-cpuEmu = { foo = \"1\" }", "c.conf:1:19: Invalid configuration option for plugin htm_cpuEmu: foo"),
            (
                "plugin-logJSON = { logfile = \"/a\" path = \"/b\" }",
                "c.conf:1:35: Invalid configuration option for plugin logjson: path",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(err(src), *want, "input {}", src);
        }
    }
}
