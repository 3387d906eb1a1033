//! The built-in default configuration's first start: creating `./honeytrap-data` and filling
//! its response directory with the response templates shipped in contrib/responses, which
//! are compiled into the binary for that purpose.

use crate::config::{self, Config};
use crate::sys::creds;
use std::io;
use std::path::{Path, PathBuf};

/// The shipped response templates (`<port>_<proto>`, contents).
pub const BUILTIN_RESPONSES: &[(&str, &[u8])] = &[
    ("21_tcp", include_bytes!("../../contrib/responses/21_tcp")),
    ("23_tcp", include_bytes!("../../contrib/responses/23_tcp")),
    ("25_tcp", include_bytes!("../../contrib/responses/25_tcp")),
    ("80_tcp", include_bytes!("../../contrib/responses/80_tcp")),
    ("110_tcp", include_bytes!("../../contrib/responses/110_tcp")),
    ("135_tcp", include_bytes!("../../contrib/responses/135_tcp")),
    ("139_tcp", include_bytes!("../../contrib/responses/139_tcp")),
    ("445_tcp", include_bytes!("../../contrib/responses/445_tcp")),
    ("1433_tcp", include_bytes!("../../contrib/responses/1433_tcp")),
    ("2323_tcp", include_bytes!("../../contrib/responses/2323_tcp")),
    ("3306_tcp", include_bytes!("../../contrib/responses/3306_tcp")),
    ("3389_tcp", include_bytes!("../../contrib/responses/3389_tcp")),
    ("4444_tcp", include_bytes!("../../contrib/responses/4444_tcp")),
    ("4899_tcp", include_bytes!("../../contrib/responses/4899_tcp")),
    ("5060_tcp", include_bytes!("../../contrib/responses/5060_tcp")),
    ("5060_udp", include_bytes!("../../contrib/responses/5060_udp")),
    ("5555_tcp", include_bytes!("../../contrib/responses/5555_tcp")),
    ("5900_tcp", include_bytes!("../../contrib/responses/5900_tcp")),
    ("6379_tcp", include_bytes!("../../contrib/responses/6379_tcp")),
    ("8009_tcp", include_bytes!("../../contrib/responses/8009_tcp")),
    ("21000_tcp", include_bytes!("../../contrib/responses/21000_tcp")),
];

/// The directories the embedded default configuration needs, which [`embedded`] creates
/// when they are missing: those of the log file, the pid file and the responses, the
/// plugins' directories and the directories of their log files.
pub fn embedded_dirs(cfg: &Config, base_dir: &Path) -> Vec<PathBuf> {
    // Relative to the start-up directory like every path of the configuration.
    let plugin_dirs: Vec<PathBuf> = cfg
        .plugins
        .iter()
        .map(|p| crate::pipeline::absolute_paths(p, base_dir))
        .flat_map(|p| p.options)
        .filter_map(|(k, v)| match k.as_str() {
            k if k.ends_with("_dir") && !v.is_empty() => Some(PathBuf::from(v)),
            "logfile" => Path::new(&v).parent().filter(|d| !d.as_os_str().is_empty()).map(Path::to_path_buf),
            _ => None,
        })
        .collect();
    let core = [cfg.logfile.parent(), cfg.pidfile.parent(), Some(cfg.response_dir.as_path())];
    core.into_iter().flatten().map(Path::to_path_buf).chain(plugin_dirs).collect()
}

/// Creates the directories of the embedded default configuration ([`embedded_dirs`]). Those
/// it creates are given to the run user, so that it can remove its pid file at exit and
/// write its files; a response directory it creates gets the built-in templates.
pub fn embedded(cfg: &Config, base_dir: &Path) -> io::Result<()> {
    let ids = config::run_ids(cfg).filter(|_| creds::getresuid().1 == 0);
    for dir in embedded_dirs(cfg, base_dir) {
        let dir = dir.as_path();
        if dir.exists() {
            continue;
        }
        std::fs::create_dir_all(dir)?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
        }
        if dir == cfg.response_dir {
            write_responses(dir)?;
        }
    }
    Ok(())
}

/// Writes every built-in response template into `dir`.
pub fn write_responses(dir: &Path) -> io::Result<()> {
    for (name, data) in BUILTIN_RESPONSES {
        std::fs::write(dir.join(name), data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_response_is_built_in() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/responses");
        let mut shipped: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with("_tcp") || n.ends_with("_udp"))
            .collect();
        shipped.sort();
        let mut built: Vec<String> = BUILTIN_RESPONSES.iter().map(|(n, _)| n.to_string()).collect();
        built.sort();
        assert_eq!(shipped, built);
        for (name, data) in BUILTIN_RESPONSES {
            assert_eq!(std::fs::read(Path::new(dir).join(name)).unwrap(), *data, "{name}");
        }
    }
}
