//! The port policy table: `portconf_default` and the `portconf` block (honeytrap.conf(5)).
//! Pure data and the decision "which mode for this port"; building it from the key tree is
//! done by tree.rs.

use std::collections::BTreeMap;
use std::fmt;

/// Transport protocol of a port entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
    /// IP protocol number (6 / 17).
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Operation mode of a port. The numbers are those of the C original (logJSON
/// `operation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    None,
    Normal,
    Ignore,
    Mirror,
    Proxy,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Normal => "normal",
            Mode::Ignore => "ignore",
            Mode::Mirror => "mirror",
            Mode::Proxy => "proxy",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Mode::None => 0,
            Mode::Normal => 1,
            Mode::Ignore => 2,
            Mode::Mirror => 4,
            Mode::Proxy => 8,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a proxy-mode port is relayed to. `host` is resolved per connection, as in the C
/// original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyTarget {
    /// Name of the proxy map the entry came from (`proxy-http`).
    pub map: String,
    pub host: String,
    pub port: u16,
    /// Parsed and shown, but the relay uses the incoming protocol (as the original).
    pub protocol: Option<Proto>,
}

/// The explicit configuration of one (protocol, port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortPolicy {
    pub mode: Mode,
    /// Set exactly when `mode` is `Proxy`.
    pub proxy: Option<ProxyTarget>,
}

/// Explicit port entries, plus the order in which they were configured (for the start-up
/// lines "Port <p>/<proto> is configured to be handled in <mode> mode.").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortTable {
    entries: BTreeMap<(Proto, u16), PortPolicy>,
    order: Vec<(Proto, u16)>,
}

impl PortTable {
    /// Adds an entry; returns the existing one if the (protocol, port) is already configured.
    pub fn insert(&mut self, proto: Proto, port: u16, policy: PortPolicy) -> Result<(), &PortPolicy> {
        if self.entries.contains_key(&(proto, port)) {
            return Err(&self.entries[&(proto, port)]);
        }
        self.entries.insert((proto, port), policy);
        self.order.push((proto, port));
        Ok(())
    }

    pub fn get(&self, proto: Proto, port: u16) -> Option<&PortPolicy> {
        self.entries.get(&(proto, port))
    }

    /// Entries in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = (Proto, u16, &PortPolicy)> {
        self.order.iter().map(move |&(pr, po)| (pr, po, &self.entries[&(pr, po)]))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The mode a connection attempt to `proto`/`port` gets (decided when the monitor reports
    /// the attempt, and again at accept): the explicit entry if there is one, else the default.
    pub fn mode_for(&self, default: Mode, proto: Proto, port: u16) -> Mode {
        self.get(proto, port).map_or(default, |p| p.mode)
    }
}
