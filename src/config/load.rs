//! Loading the configuration the daemon runs with: the choice of the file (`-C`, the default
//! path, or the embedded default), the command line's `-L -P -u -g -p` applied on top of the
//! file's keys, the checks that must pass before start-up (the response directory), and the
//! user and group the daemon runs as; its failures are [`LoadError`]s. Replaces the loading
//! half of the C original's main.c / readconf.c (`parse_config_file` and the option
//! precedence around it); the command line itself is read by cli.rs, which hands over
//! [`Overrides`], and `--check-config` is reported by the daemon module.

use super::{Config, ConfigError, GroupSpec, UserSpec};
use crate::sys::{strerror, user};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The embedded default configuration: everything under `./honeytrap-data` of the start-up
/// directory, pcap monitor, normal mode for every port but 22/tcp.
pub const EMBEDDED_CONFIG: &str = include_str!("../default.conf");

/// What the command line says about the configuration: the file to read (`-C`) and the
/// values that win over the file's keys (`-L -P -u -g -p`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub promisc: bool,
}

/// Where the configuration comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    /// No `-C` and no file at the default path.
    Embedded,
}

impl Overrides {
    pub fn config_source(&self) -> ConfigSource {
        match &self.config_file {
            Some(p) => ConfigSource::File(p.clone()),
            None if Path::new(super::DEFAULT_CONFIG_FILE).exists() => {
                ConfigSource::File(super::DEFAULT_CONFIG_FILE.into())
            }
            None => ConfigSource::Embedded,
        }
    }
}

/// Why the configuration cannot be used: its text (with the position), a `-u`/`-g` name,
/// or what must exist before start-up. The texts are without the `Error - ` prefix, which
/// the daemon's error adds.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read or has an error at a position.
    Config(ConfigError),
    /// `-u` names no user.
    UnknownUser(String),
    /// The user database could not be asked about `-u`.
    User { name: String, err: io::Error },
    /// `-g` names no group.
    UnknownGroup(String),
    /// The group database could not be asked about `-g`.
    Group { name: String, err: io::Error },
    /// The response directory cannot be read.
    ResponseDir { path: PathBuf, err: io::Error },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Config(e) => write!(f, "{e}"),
            LoadError::UnknownUser(name) => write!(f, "User {name} not found."),
            LoadError::User { err, .. } => write!(f, "Invalid user: {err}."),
            LoadError::UnknownGroup(name) => write!(f, "Group {name} not found."),
            LoadError::Group { err, .. } => write!(f, "Invalid group: {err}."),
            LoadError::ResponseDir { path, err } => {
                write!(f, "Unable to open response directory {}: {}", path.display(), strerror(err))
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ConfigError> for LoadError {
    fn from(e: ConfigError) -> LoadError {
        LoadError::Config(e)
    }
}

/// Resolves `-u` / `-g` names (names only, as the original).
fn resolve_user(name: &str) -> Result<UserSpec, LoadError> {
    match user::user_by_name(name) {
        Ok(Some(p)) => Ok(UserSpec { name: name.to_string(), uid: p.uid, gid: p.gid }),
        Ok(None) => Err(LoadError::UnknownUser(name.to_string())),
        Err(err) => Err(LoadError::User { name: name.to_string(), err }),
    }
}

fn resolve_group(name: &str) -> Result<GroupSpec, LoadError> {
    match user::group_by_name(name) {
        Ok(Some(gid)) => Ok(GroupSpec { name: name.to_string(), gid }),
        Ok(None) => Err(LoadError::UnknownGroup(name.to_string())),
        Err(err) => Err(LoadError::Group { name: name.to_string(), err }),
    }
}

/// Loads the configuration and applies the command line on top (`-L -P -u -g -p`).
pub fn load_config(opts: &Overrides, base_dir: &Path) -> Result<Config, LoadError> {
    let mut cfg = match opts.config_source() {
        ConfigSource::File(p) => super::load(&p, base_dir)?,
        ConfigSource::Embedded => super::load_str(EMBEDDED_CONFIG, Path::new("<built-in default>"), base_dir)?,
    };
    let abs = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    if let Some(l) = &opts.logfile {
        cfg.logfile = abs(l);
    }
    if let Some(p) = &opts.pidfile {
        cfg.pidfile = abs(p);
    }
    if let Some(u) = &opts.user {
        cfg.user = Some(resolve_user(u)?);
    }
    if let Some(g) = &opts.group {
        cfg.group = Some(resolve_group(g)?);
    }
    if opts.promisc {
        cfg.promisc = true;
    }
    Ok(cfg)
}

/// Checks what must exist before the daemon starts (the response directory: the C original
/// exits 1 without it).
pub fn check_environment(cfg: &Config) -> Result<(), LoadError> {
    std::fs::read_dir(&cfg.response_dir)
        .map(drop)
        .map_err(|err| LoadError::ResponseDir { path: cfg.response_dir.clone(), err })
}

/// The user and group the daemon will run as: (uid, gid) or `None` to keep the current ids.
/// Without a group the user's primary group is used.
pub fn run_ids(cfg: &Config) -> Option<(u32, u32)> {
    match (&cfg.user, &cfg.group) {
        (None, None) => None,
        (Some(u), g) => Some((u.uid, g.as_ref().map_or(u.gid, |g| g.gid))),
        (None, Some(g)) => Some((crate::sys::creds::getresuid().1, g.gid)),
    }
}

/// The user and group the daemon runs as, with their names (the configured ones, else the
/// database's, else the number), as start-up reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub user: String,
    pub uid: u32,
    pub group: String,
    pub gid: u32,
}

impl fmt::Display for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {} ({}) and group {} ({})", self.user, self.uid, self.group, self.gid)
    }
}

/// What keeps a user from creating files in a directory.
#[derive(Debug)]
pub enum DirProblem {
    Missing,
    NotDirectory,
    /// It cannot be looked at (e.g. a parent directory not searchable).
    Unusable(io::Error),
    /// The user cannot create and remove entries in it, or cannot reach it.
    NotWritable,
}

impl fmt::Display for DirProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirProblem::Missing => f.write_str("does not exist"),
            DirProblem::NotDirectory => f.write_str("is not a directory"),
            DirProblem::Unusable(e) => write!(f, "cannot be looked at: {}", strerror(e)),
            DirProblem::NotWritable => f.write_str("is not writable"),
        }
    }
}

impl DirProblem {
    /// The problem as said of `who` (named when the directory is not writable).
    pub fn of(&self, who: &RunAs) -> String {
        match self {
            DirProblem::NotWritable => format!("{self} by {who}"),
            other => other.to_string(),
        }
    }
}

/// Checks that `dir` exists and that `ids` (uid, gid) may create and remove entries in it:
/// `None` asks for this process (access(2) with its real ids). For other ids the mode bits
/// of `dir` and the search bits of every parent decide, for that user with that one group
/// and no other (as the daemon runs after the privilege drop); root may always. This is the
/// one check of the directories the daemon writes in: at start-up (before anything starts,
/// for the run user), in `--check-config`, and by SaveFile at a reload.
pub fn dir_problem(dir: &Path, ids: Option<(u32, u32)>) -> Option<DirProblem> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Some(DirProblem::Missing),
        Err(e) => return Some(DirProblem::Unusable(e)),
        Ok(m) if !m.is_dir() => return Some(DirProblem::NotDirectory),
        Ok(_) => {}
    }
    let writable = match ids {
        None => crate::sys::process::can_write_dir(dir),
        Some((0, _)) => true,
        Some((uid, gid)) => {
            mode_allows(dir, uid, gid, 0o3) && dir.ancestors().skip(1).all(|a| mode_allows(a, uid, gid, 0o1))
        }
    };
    (!writable).then_some(DirProblem::NotWritable)
}

/// Whether the mode bits of `path` grant `bits` (of `rwx` = 4, 2, 1) to user `uid` of
/// group `gid`: the owner's bits if it owns the file, else the group's, else the others'.
fn mode_allows(path: &Path, uid: u32, gid: u32, bits: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return false;
    };
    let granted = if m.uid() == uid {
        m.mode() >> 6
    } else if m.gid() == gid {
        m.mode() >> 3
    } else {
        m.mode()
    };
    granted & bits == bits
}

/// The ids of [`run_ids`], or the current effective ones when none are configured, named.
pub fn run_as(cfg: &Config) -> RunAs {
    use crate::sys::creds;
    let (uid, gid) = run_ids(cfg).unwrap_or_else(|| (creds::getresuid().1, creds::getresgid().1));
    let user = match &cfg.user {
        Some(u) => u.name.clone(),
        None => user::user_name(uid).unwrap_or_else(|| uid.to_string()),
    };
    let group = match &cfg.group {
        Some(g) => g.name.clone(),
        None => user::group_name(gid).unwrap_or_else(|| gid.to_string()),
    };
    RunAs { user, uid, group, gid }
}

impl RunAs {
    /// This process's effective user and group, named.
    pub fn current() -> RunAs {
        run_as(&Config::default())
    }

    pub fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_rules() {
        let u = UserSpec { name: "nobody".into(), uid: 65534, gid: 65534 };
        let g = GroupSpec { name: "x".into(), gid: 7 };
        let mut cfg = Config::default();
        assert_eq!(run_ids(&cfg), None);
        cfg.user = Some(u);
        assert_eq!(run_ids(&cfg), Some((65534, 65534)));
        cfg.group = Some(g);
        assert_eq!(run_ids(&cfg), Some((65534, 7)));
    }

    #[test]
    fn dir_problems() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("ht-dirproblem-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = d.join("f");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(dir_problem(&d.join("no"), None), Some(DirProblem::Missing)));
        assert!(matches!(dir_problem(&file, None), Some(DirProblem::NotDirectory)));
        assert!(dir_problem(&d, None).is_none());
        let owner = {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&d).unwrap();
            (m.uid(), m.gid())
        };
        assert!(dir_problem(&d, Some(owner)).is_none(), "0755: the owner writes");
        assert!(dir_problem(&d, Some((0, 0))).is_none(), "root writes anywhere");
        let stranger = (owner.0.wrapping_add(4242).max(1), owner.1.wrapping_add(4242));
        assert!(matches!(dir_problem(&d, Some(stranger)), Some(DirProblem::NotWritable)));
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(dir_problem(&d, Some(stranger)).is_none());
        std::fs::remove_dir_all(&d).unwrap();
        assert_eq!(DirProblem::NotWritable.to_string(), "is not writable");
    }

    #[test]
    fn load_error_texts() {
        let enoent = || io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(LoadError::UnknownUser("nobodyx".into()).to_string(), "User nobodyx not found.");
        assert_eq!(LoadError::UnknownGroup("g".into()).to_string(), "Group g not found.");
        let e = LoadError::ResponseDir { path: "/nonexistent".into(), err: enoent() };
        assert_eq!(e.to_string(), "Unable to open response directory /nonexistent: No such file or directory");
        let e = ConfigError::Io { path: "/x.conf".into(), reason: "No such file or directory".into(), span: None };
        assert_eq!(LoadError::from(e).to_string(), "Unable to parse /x.conf: open(): No such file or directory");
    }
}
