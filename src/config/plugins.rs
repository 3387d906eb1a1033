//! The `plugin-<Name>` entries (honeytrap.conf(5)): which names exist, which option keys each
//! one takes, and which of them this program implements yet. Plugins are built-in modules here,
//! selected by the same keys as the C original's `htm_<Name>.so` files.

/// Every plugin name the C honeytrap (upstream and T-Pot's forks) shipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plugin {
    SaveFile,
    FtpDownload,
    TftpDownload,
    HttpDownload,
    VncDownload,
    B64Decode,
    DeUnicode,
    MagicPe,
    SpamSum,
    ClamAv,
    CpuEmu,
    Cspm,
    Xmatch,
    SubmitMwserv,
    SubmitNebula,
    SubmitPostgres,
    LogAttacker,
    LogJson,
    /// Our own: the event stream (one JSON object per event).
    LogEvents,
    /// Our own: the daemon log and/or events to syslog (RFC 5424).
    Syslog,
    /// Our own: events and samples to an hpfeeds broker.
    Hpfeeds,
}

impl Plugin {
    /// All plugins: the C original's, then this program's own outputs (logEvents, syslog,
    /// hpfeeds).
    pub const ALL: [Plugin; 21] = [
        Plugin::SaveFile,
        Plugin::FtpDownload,
        Plugin::TftpDownload,
        Plugin::HttpDownload,
        Plugin::VncDownload,
        Plugin::B64Decode,
        Plugin::DeUnicode,
        Plugin::MagicPe,
        Plugin::SpamSum,
        Plugin::ClamAv,
        Plugin::CpuEmu,
        Plugin::Cspm,
        Plugin::Xmatch,
        Plugin::SubmitMwserv,
        Plugin::SubmitNebula,
        Plugin::SubmitPostgres,
        Plugin::LogAttacker,
        Plugin::LogJson,
        Plugin::LogEvents,
        Plugin::Syslog,
        Plugin::Hpfeeds,
    ];

    /// The `<Name>` of `plugin-<Name>` (case-sensitive, as the original's file glob).
    pub fn key_name(self) -> &'static str {
        match self {
            Plugin::SaveFile => "SaveFile",
            Plugin::FtpDownload => "ftpDownload",
            Plugin::TftpDownload => "tftpDownload",
            Plugin::HttpDownload => "httpDownload",
            Plugin::VncDownload => "vncDownload",
            Plugin::B64Decode => "b64Decode",
            Plugin::DeUnicode => "deUnicode",
            Plugin::MagicPe => "magicPE",
            Plugin::SpamSum => "SpamSum",
            Plugin::ClamAv => "ClamAV",
            Plugin::CpuEmu => "cpuEmu",
            Plugin::Cspm => "cspm",
            Plugin::Xmatch => "xmatch",
            Plugin::SubmitMwserv => "submitMWserv",
            Plugin::SubmitNebula => "submitNebula",
            Plugin::SubmitPostgres => "submitPostgres",
            Plugin::LogAttacker => "logAttacker",
            Plugin::LogJson => "logJSON",
            Plugin::LogEvents => "logEvents",
            Plugin::Syslog => "syslog",
            Plugin::Hpfeeds => "hpfeeds",
        }
    }

    /// The internal module name the original used in its log lines.
    pub fn module_name(self) -> &'static str {
        match self {
            Plugin::CpuEmu => "htm_cpuEmu",
            Plugin::SubmitMwserv => "submitMwserv",
            Plugin::LogAttacker => "logattacker",
            Plugin::LogJson => "logjson",
            p => p.key_name(),
        }
    }

    /// Version string printed in `Loading plugin <module_name> v<version>`.
    pub fn version(self) -> &'static str {
        match self {
            Plugin::LogAttacker => "1.0.2",
            Plugin::LogJson => "1.1.0",
            Plugin::LogEvents | Plugin::Syslog | Plugin::Hpfeeds => env!("CARGO_PKG_VERSION"),
            _ => "1.0.1",
        }
    }

    pub fn from_key_name(name: &str) -> Option<Plugin> {
        Plugin::ALL.iter().copied().find(|p| p.key_name() == name)
    }

    /// The plugin an unknown `name` was most likely meant to be: the nearest name by edit
    /// distance, ignoring case, when it is at most a third of the name away (at least 1);
    /// else the one plugin whose last word (`Postgres` of `submitPostgres`) `name` ends with.
    pub fn closest(name: &str) -> Option<Plugin> {
        let lower = name.to_ascii_lowercase();
        let (best, d) = Plugin::ALL
            .iter()
            .map(|p| (*p, edit_distance(&lower, &p.key_name().to_ascii_lowercase())))
            .min_by_key(|(_, d)| *d)?;
        if d <= (name.len() / 3).max(1) {
            return Some(best);
        }
        let tail = |n: &str| n.rfind(|c: char| c.is_ascii_uppercase()).map(|i| n[i..].to_ascii_lowercase());
        let by_tail: Vec<Plugin> = Plugin::ALL
            .iter()
            .copied()
            .filter(|p| tail(p.key_name()).is_some_and(|t| t.len() >= 5 && lower.ends_with(&t)))
            .collect();
        (by_tail.len() == 1).then(|| by_tail[0])
    }

    /// The option keys the plugin understands.
    pub fn option_keys(self) -> &'static [&'static str] {
        match self {
            Plugin::SaveFile => &["attacks_dir", "downloads_dir"],
            Plugin::FtpDownload => &["ftp_host"],
            Plugin::HttpDownload => &["http_program", "http_options"],
            Plugin::SpamSum => &["md5sum_sigfile", "spamsum_sigfile"],
            Plugin::ClamAv => &["clamd_socket", "temp_dir", "clamdb_path"],
            Plugin::CpuEmu => &["execute_shellcode", "createprocess_cmd"],
            Plugin::Cspm => &["shellcode_sigfile", "follow_connectback"],
            Plugin::Xmatch => &["xpattern_file"],
            Plugin::SubmitMwserv => &["mwserv_url", "guid", "maintainer", "secret", "timeout"],
            Plugin::SubmitNebula => &["host", "port", "secret"],
            Plugin::SubmitPostgres => &["db_host", "db_name", "db_user", "db_pass", "db_port", "sensor_id"],
            Plugin::LogAttacker | Plugin::LogJson => &["logfile"],
            Plugin::LogEvents => &["logfile", "data_limit"],
            Plugin::Syslog => &["target", "facility", "what", "app_name", "queue_size"],
            Plugin::Hpfeeds => &["host", "port", "ident", "secret", "events_channel", "files_channel", "queue_size"],
            Plugin::TftpDownload | Plugin::VncDownload | Plugin::B64Decode | Plugin::DeUnicode | Plugin::MagicPe => &[],
        }
    }

    /// Whether the original rejected unknown option keys (`Invalid configuration option for
    /// plugin <module_name>: <key>`). Plugins without an option parser accepted and ignored
    /// any key; so do we, with a warning.
    pub fn validates_options(self) -> bool {
        !matches!(
            self,
            Plugin::FtpDownload
                | Plugin::TftpDownload
                | Plugin::B64Decode
                | Plugin::DeUnicode
                | Plugin::VncDownload
                | Plugin::MagicPe
        )
    }

    /// Whether this program implements the plugin yet. A configured plugin that is not
    /// implemented is accepted with a warning naming it.
    pub fn implemented(self) -> bool {
        matches!(
            self,
            Plugin::SaveFile
                | Plugin::FtpDownload
                | Plugin::TftpDownload
                | Plugin::HttpDownload
                | Plugin::VncDownload
                | Plugin::B64Decode
                | Plugin::DeUnicode
                | Plugin::MagicPe
                | Plugin::SpamSum
                | Plugin::ClamAv
                | Plugin::Cspm
                | Plugin::CpuEmu
                | Plugin::Xmatch
                | Plugin::LogAttacker
                | Plugin::LogJson
                | Plugin::LogEvents
                | Plugin::Syslog
                | Plugin::Hpfeeds
        ) || (self == Plugin::SubmitPostgres && cfg!(feature = "postgres"))
    }
}

/// One `plugin-<Name>` entry of the configuration, in load order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginConfig {
    pub plugin: Plugin,
    /// Option keys and values in file order (first value of a key wins).
    pub options: Vec<(String, String)>,
    pub span: super::Span,
}

impl PluginConfig {
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Levenshtein distance of two short ASCII names (plugin names; longer input is cut at 64
/// bytes, so the cost stays bounded).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (&a.as_bytes()[..a.len().min(64)], &b.as_bytes()[..b.len().min(64)]);
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}
