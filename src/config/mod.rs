//! The configuration: lexer, parser and the typed [`Config`] the rest of the program sees.
//!
//! Replaces the C original's "lcfg" scanner/parser, its flattened key tree and the key handlers
//! of readconf.c / parseconf.c (honeytrap.conf(5)). This module owns syntax (quoted strings
//! only, `//` and `/* */` comments, lists with optional commas, nested blocks), the flattening
//! rules (first scalar wins, list items accumulate, top-level keys processed in order of first
//! appearance, `include` appended to the processing queue), every top-level key, the `portconf`
//! block and the `plugin-<Name>` entries. Command-line precedence (`-L -P -u -g -p` on top of the file)
//! is applied by load.rs from the [`Overrides`] cli.rs hands over; nothing here touches the
//! network.
//!
//! Every error carries the file, line and column of the offending token.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub mod lexer;
pub mod load;
pub mod parser;
pub(crate) mod plugins;
pub(crate) mod portconf;
mod process;
pub(crate) mod queue;
#[cfg(test)]
mod testutil;
pub(crate) mod tree;
pub(crate) mod values;

pub use load::{
    check_environment, dir_problem, load_config, run_as, run_ids, ConfigSource, DirProblem, LoadError, Overrides,
    RunAs, EMBEDDED_CONFIG,
};
pub use plugins::{Plugin, PluginConfig};
pub use portconf::{Mode, PortPolicy, PortTable, Proto, ProxyTarget};
pub use tree::{PORTCONF_KEYS, TOP_LEVEL_KEYS};
pub use values::inet_aton;

/// Built-in default paths of the C original (they do not follow the install prefix), except
/// the configuration file: `make` builds in $(SYSCONFDIR)/honeytrap/honeytrap.conf
/// (HONEYTRAP_CONFIG_FILE), a plain `cargo build` the C original's path.
pub const DEFAULT_CONFIG_FILE: &str = match option_env!("HONEYTRAP_CONFIG_FILE") {
    Some(path) => path,
    None => "/etc/honeytrap/honeytrap.conf",
};
pub const DEFAULT_LOGFILE: &str = "/var/log/honeytrap.log";
pub const DEFAULT_PIDFILE: &str = "/var/run/honeytrap.pid";
pub const DEFAULT_RESPONSE_DIR: &str = "/etc/honeytrap/responses";
pub const DEFAULT_PLUGIN_DIR: &str = "/etc/honeytrap/plugins";

/// Defaults of the keys this program added (honeytrap.conf(5) marks them as new).
pub const DEFAULT_NFQ_QUEUE: u16 = 0;
/// `max_connections_per_source`: a source's share when the daemon is busy (there is no
/// `max_connections` default: the capacity is computed, server/capacity.rs).
pub const DEFAULT_MAX_CONNECTIONS_PER_SOURCE: u32 = 64;
/// Seconds; 0 = no limit.
pub const DEFAULT_SESSION_LIMIT: u32 = 300;
/// `read_limit`: bytes kept from one connection (the value of T-Pot's configuration and of
/// the shipped one; the C honeytrap had no limit by default).
pub const DEFAULT_READ_LIMIT: u32 = 20 << 20;
/// `max_listeners`: dynamic servers (ports served) at the same time.
pub const DEFAULT_MAX_LISTENERS: u32 = 4096;
/// `download_timeout`: seconds one download may take.
pub const DEFAULT_DOWNLOAD_TIMEOUT: u32 = 120;
/// `download_attack_timeout`: seconds all downloads of one attack may take together.
pub const DEFAULT_DOWNLOAD_ATTACK_TIMEOUT: u32 = 300;
/// `download_max_size`: largest sample kept, in bytes.
pub const DEFAULT_DOWNLOAD_MAX_SIZE: u32 = 32 << 20;
/// `downloads_per_attack`: most downloads one attack may trigger.
pub const DEFAULT_DOWNLOADS_PER_ATTACK: u32 = 16;
/// `downloads_in_flight`: most downloads running at the same time, daemon-wide.
pub const DEFAULT_DOWNLOADS_IN_FLIGHT: u32 = 16;
/// `download_max_redirects`: most HTTP redirects followed.
pub const DEFAULT_DOWNLOAD_MAX_REDIRECTS: u32 = 5;

/// Maximum nesting of `include` (the main file is depth 0).
pub const INCLUDE_LIMIT: usize = 8;

/// A position in a configuration file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A configuration error: where, and what was wrong or expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A file could not be read (`span` is the `include` that named it, if any).
    Io { path: PathBuf, reason: String, span: Option<Span> },
    /// Syntax or semantic error at a position.
    At { span: Span, msg: String },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, reason, span: None } => {
                write!(f, "Unable to parse {}: open(): {}", path.display(), reason)
            }
            ConfigError::Io { path, reason, span: Some(s) } => {
                write!(f, "{}: Unable to include {}: {}", s, path.display(), reason)
            }
            ConfigError::At { span, msg } => write!(f, "{}: {}", span, msg),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A resolved user (`user` key or `-u`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSpec {
    pub name: String,
    pub uid: u32,
    /// The user's primary group, used when no group is configured.
    pub gid: u32,
}

/// A resolved group (`group` key or `-g`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSpec {
    pub name: String,
    pub gid: u32,
}

/// Which connection monitor to run (a key of our own; the C original chose at compile time,
/// which remains the default: see `cli::build_monitor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorKind {
    Nfq,
    Pcap,
}

/// When normal mode sends the port's response (`response_policy`, honeytrap.conf(5)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponsePolicy {
    /// At most once per connection, at the first idle interval (T-Pot's current build).
    #[default]
    Once,
    /// At every idle interval (upstream honeytrap 1.1).
    Repeat,
}

impl ResponsePolicy {
    /// The spelling of the configuration value.
    pub fn name(self) -> &'static str {
        match self {
            ResponsePolicy::Once => "once",
            ResponsePolicy::Repeat => "repeat",
        }
    }
}

impl fmt::Display for ResponsePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A non-fatal remark found while loading (dropped duplicate key, plugin not implemented yet,
/// key ignored because its block was already processed, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub span: Span,
    pub msg: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span, self.msg)
    }
}

/// The whole configuration, typed. Built from a file by [`load()`], then the command line is
/// applied on top by [`load_config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The file this was loaded from (or `<built-in>` for the embedded default).
    pub source: PathBuf,
    pub logfile: PathBuf,
    pub pidfile: PathBuf,
    pub response_dir: PathBuf,
    pub plugin_dir: PathBuf,
    /// Bytes kept from one connection (and from each side of a relay); 0 = unlimited
    /// (never from a file, which needs a positive value).
    pub read_limit: u32,
    pub bind_address: Ipv4Addr,
    pub replace_private_ips: bool,
    pub promisc: bool,
    pub user: Option<UserSpec>,
    pub group: Option<GroupSpec>,
    /// `Mode::None` when the key is absent: the C original then behaves like normal.
    pub portconf_default: Mode,
    pub ports: PortTable,
    /// In load order (= order of execution within a pipeline stage).
    pub plugins: Vec<PluginConfig>,
    /// `None` when the key is absent (the build-time default is used); the command line
    /// (`-i`, `-a`, `-p`) may still choose pcap.
    pub monitor: Option<MonitorKind>,
    /// NFQUEUE queue number the nfq monitor reads from (`nfq_queue`).
    pub nfq_queue: u16,
    /// When normal mode sends the response (`response_policy`).
    pub response_policy: ResponsePolicy,
    /// Concurrent connections in total (`max_connections`), 1..=1_000_000, a hard cap;
    /// `None`: the capacity the system allows.
    pub max_connections: Option<u32>,
    /// Connections (and unprocessed records) one source address may hold once the daemon is
    /// busy (`max_connections_per_source`), 1..=1_000_000.
    pub max_connections_per_source: u32,
    /// Dynamic servers (TCP listeners and UDP sockets) at the same time (`max_listeners`);
    /// beyond it the least recently requested idle server is closed to make room.
    pub max_listeners: u32,
    /// Seconds a connection may last at most, whatever it does (`session_limit`); 0 = no
    /// limit.
    pub session_limit: u32,
    /// Bytes of attack data the daemon holds in memory at once (`max_buffered_bytes`);
    /// `None`: the default of [`crate::budget::default_cap`], from the memory size.
    pub max_buffered_bytes: Option<u64>,
    /// Download caps (`download_timeout`, `download_attack_timeout` in seconds,
    /// `download_max_size` in bytes, `downloads_per_attack`, `downloads_in_flight`,
    /// `download_max_redirects`).
    pub download_timeout: u32,
    pub download_attack_timeout: u32,
    pub download_max_size: u32,
    pub downloads_per_attack: u32,
    pub downloads_in_flight: u32,
    pub download_max_redirects: u32,
    /// `download_allow_local`: downloads may connect to loopback, link-local, multicast and
    /// the sensor's own addresses.
    pub download_allow_local: bool,
    /// `sensor_name`: this sensor's name in events, syslog, hpfeeds and the database;
    /// `None`: the host name.
    pub sensor_name: Option<String>,
    /// `metrics_listen`: where the Prometheus endpoint listens (`ADDRESS:PORT`, `[IPv6]:PORT`);
    /// nothing listens when unset.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `http_download`: HTTP and HTTPS URLs are fetched by the built-in client whenever a
    /// download plugin is configured, not only with plugin-httpDownload (default yes).
    pub http_download: bool,
    pub warnings: Vec<Warning>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: PathBuf::from(DEFAULT_CONFIG_FILE),
            logfile: PathBuf::from(DEFAULT_LOGFILE),
            pidfile: PathBuf::from(DEFAULT_PIDFILE),
            response_dir: PathBuf::from(DEFAULT_RESPONSE_DIR),
            plugin_dir: PathBuf::from(DEFAULT_PLUGIN_DIR),
            read_limit: DEFAULT_READ_LIMIT,
            bind_address: Ipv4Addr::UNSPECIFIED,
            replace_private_ips: false,
            promisc: false,
            user: None,
            group: None,
            portconf_default: Mode::None,
            ports: PortTable::default(),
            plugins: Vec::new(),
            monitor: None,
            nfq_queue: DEFAULT_NFQ_QUEUE,
            response_policy: ResponsePolicy::Once,
            max_connections: None,
            max_connections_per_source: DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
            max_listeners: DEFAULT_MAX_LISTENERS,
            session_limit: DEFAULT_SESSION_LIMIT,
            max_buffered_bytes: None,
            download_timeout: DEFAULT_DOWNLOAD_TIMEOUT,
            download_attack_timeout: DEFAULT_DOWNLOAD_ATTACK_TIMEOUT,
            download_max_size: DEFAULT_DOWNLOAD_MAX_SIZE,
            downloads_per_attack: DEFAULT_DOWNLOADS_PER_ATTACK,
            downloads_in_flight: DEFAULT_DOWNLOADS_IN_FLIGHT,
            download_max_redirects: DEFAULT_DOWNLOAD_MAX_REDIRECTS,
            download_allow_local: false,
            sensor_name: None,
            metrics_listen: None,
            http_download: true,
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// The sensor's name: `sensor_name`, else the host name, else `honeytrap`.
    pub fn sensor(&self) -> String {
        match &self.sensor_name {
            Some(n) => n.clone(),
            None => {
                Some(crate::sys::process::hostname()).filter(|h| !h.is_empty()).unwrap_or_else(|| "honeytrap".into())
            }
        }
    }
}

/// Loads and validates a configuration file (syntax, keys, values, users and groups).
/// Relative paths in values (`logfile`, `include`, ...) are resolved against `base_dir`
/// (the working directory at start-up), so they keep working after the daemon changes to `/`.
pub fn load(path: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    queue::load_file(path, base_dir)
}

/// Loads configuration text that is not in a file (the embedded default, tests).
/// `name` is used in error positions.
pub fn load_str(text: &str, name: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    queue::load_text(text, name, base_dir)
}
