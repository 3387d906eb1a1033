//! The command line (honeytrap(8)): every option of the C original, declared once in
//! [`OPTIONS`] (from which the usage text is made and against which the man page is tested),
//! parsed with getopts in GNU style (options may follow the trailing BPF expression; `--` ends
//! options), plus `--check-config`. What the command line says about the configuration
//! (`-C -L -P -u -g -p`) is handed to config/load.rs as `Overrides`. Exit statuses: `-h`,
//! `-?` and `-v` 0; an unknown option, a missing argument or a bad value of `-t -l -r` 1,
//! with the usage on stderr (the C original exited 0 and took `-t abc` for level 0).

use crate::config::{Config, MonitorKind, Overrides};
use crate::log::Level;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One command-line option: short letter (or long name), argument name, help text.
pub struct OptSpec {
    /// The short letter, or "" for a long-only option.
    pub short: &'static str,
    /// The long name, or "" for a short-only option.
    pub long: &'static str,
    /// Name of the argument, if the option takes one.
    pub arg: Option<&'static str>,
    pub help: &'static str,
}

/// Every option, in the order of the usage text.
pub const OPTIONS: &[OptSpec] = &[
    OptSpec { short: "a", long: "", arg: Some("address"), help: "ip address or hostname (normally not needed)" },
    OptSpec { short: "g", long: "", arg: Some("group"), help: "group" },
    OptSpec { short: "h", long: "", arg: None, help: "this output" },
    OptSpec { short: "i", long: "", arg: Some("interface"), help: "interface, defaults to first usable device" },
    OptSpec { short: "l", long: "", arg: Some("seconds"), help: "listen timeout (sec), default is 120" },
    OptSpec { short: "m", long: "", arg: None, help: "enable mirror mode (accepted, no effect: use portconf)" },
    OptSpec { short: "p", long: "", arg: None, help: "enable promiscuous mode" },
    OptSpec { short: "r", long: "", arg: Some("seconds"), help: "read timeout (sec), default is 1" },
    OptSpec { short: "t", long: "", arg: Some("level"), help: "log level (0-6), default is 3 (LOG_NOTICE)" },
    OptSpec { short: "u", long: "", arg: Some("user"), help: "user" },
    OptSpec { short: "v", long: "", arg: None, help: "print version number" },
    OptSpec { short: "?", long: "", arg: None, help: "this output" },
    OptSpec { short: "C", long: "", arg: Some("file"), help: "configuration file" },
    OptSpec { short: "D", long: "", arg: None, help: "don't daemonize" },
    OptSpec { short: "L", long: "", arg: Some("file"), help: "logfile" },
    OptSpec { short: "P", long: "", arg: Some("file"), help: "pid file" },
    OptSpec {
        short: "",
        long: "check-config",
        arg: None,
        help: "check the configuration (-C file), print problems or 'configuration OK', exit",
    },
    OptSpec {
        short: "",
        long: "replay",
        arg: Some("file"),
        help: "record the attacks in a pcap or pcapng capture through the configured pipeline, exit",
    },
    OptSpec { short: "", long: "download", arg: None, help: "with --replay: fetch what the attacks name" },
    OptSpec { short: "", long: "no-download", arg: None, help: "with --replay: fetch nothing (the default)" },
];

/// Default listen timeout (`-l`, seconds a dynamic server waits for a new connection).
pub const DEFAULT_LISTEN_TIMEOUT: u8 = 120;
/// Default read timeout (`-r`, normal-mode idle interval).
pub const DEFAULT_READ_TIMEOUT: u8 = 1;

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub argv0: String,
    pub log_level: Level,
    pub config_file: Option<PathBuf>,
    pub foreground: bool,
    pub logfile: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub listen_timeout: u8,
    pub read_timeout: u8,
    pub promisc: bool,
    pub interface: Option<String>,
    pub address: Option<String>,
    /// `-m`: accepted for compatibility; mirror mode is configured per port.
    pub mirror: bool,
    /// Trailing words joined with single spaces (pcap filter addition).
    pub bpf: Option<String>,
    pub check_config: bool,
    /// `--replay FILE`.
    pub replay: Option<PathBuf>,
    /// `--download` (the last of `--download` and `--no-download` wins).
    pub download: bool,
}

impl Options {
    /// Options with every default and no arguments.
    pub fn new(argv0: &str) -> Options {
        Options {
            argv0: argv0.to_string(),
            log_level: crate::log::DEFAULT_LEVEL,
            config_file: None,
            foreground: false,
            logfile: None,
            pidfile: None,
            user: None,
            group: None,
            listen_timeout: DEFAULT_LISTEN_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            promisc: false,
            interface: None,
            address: None,
            mirror: false,
            bpf: None,
            check_config: false,
            replay: None,
            download: false,
        }
    }

    /// Which monitor runs: pcap when `-i`, `-a` or `-p` is given (options only pcap knows);
    /// else the `monitor` key; else the default chosen when building ([`build_monitor`]).
    pub fn monitor(&self, cfg: &Config) -> MonitorKind {
        if self.interface.is_some() || self.address.is_some() || self.promisc {
            return MonitorKind::Pcap;
        }
        cfg.monitor.unwrap_or_else(build_monitor)
    }

    /// What the command line says about the configuration (`-C -L -P -u -g -p`).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config_file.clone(),
            logfile: self.logfile.clone(),
            pidfile: self.pidfile.clone(),
            user: self.user.clone(),
            group: self.group.clone(),
            promisc: self.promisc,
        }
    }
}

/// The monitor named by the build-time setting `HONEYTRAP_STREAM_MON` (`make STREAM_MON=...`):
/// `pcap` selects pcap; anything else, or nothing, nfq.
pub fn stream_mon(setting: Option<&str>) -> MonitorKind {
    match setting {
        Some("pcap") => MonitorKind::Pcap,
        _ => MonitorKind::Nfq,
    }
}

/// The default monitor of this binary, fixed when it was built, like the C original's
/// `configure --with-stream-mon`: `make STREAM_MON=pcap` makes it pcap; nfq (T-Pot's choice)
/// when not given. Used when neither the command line nor the `monitor` key decides.
pub fn build_monitor() -> MonitorKind {
    stream_mon(option_env!("HONEYTRAP_STREAM_MON"))
}

/// What parsing decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    /// Print `stdout` and `stderr`, then exit with `status`.
    Exit {
        status: i32,
        stdout: String,
        stderr: String,
    },
}

/// The usage text (`-h`, `-?`, and after a bad option).
pub fn usage(argv0: &str) -> String {
    let mut s = format!(
        "Usage: {argv0} [ -Dpmv ] [ -i interface ] [ -a ip address ] [ -l seconds ]\n\
         \t\t[ -r seconds ] [ -t log level ] [ -u user ] [ -g group ]\n\
         \t\t[ -C file ] [ -L file ] [ -P file ] [ --check-config ] [ bpf expression ]\n"
    );
    for o in OPTIONS {
        if o.short == "?" {
            continue;
        }
        if o.short.is_empty() {
            s.push_str(&format!("\t--{}:\t{}\n", o.long, o.help));
        } else {
            s.push_str(&format!("\t-{}:\t{}\n", o.short, o.help));
        }
    }
    s
}

/// C `atoi`: leading blanks, optional sign, decimal digits; anything else ends the number;
/// no digits gives 0. Saturates instead of overflowing.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut n: i64 = 0;
    for b in t.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -n
    } else {
        n
    }
}

/// C `strtoul(s, NULL, 0)`: blanks, optional sign, `0x` hex / `0` octal / decimal; stops at
/// the first invalid character; a minus sign negates modulo 2^64 (so "-1" is huge).
pub fn strtoul0(s: &str) -> u64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = t.as_bytes();
    let (radix, digits) =
        if b.len() >= 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b.get(2).is_some_and(u8::is_ascii_hexdigit) {
            (16, &t[2..])
        } else if b.first() == Some(&b'0') {
            (8, t)
        } else {
            (10, t)
        };
    let mut n: u64 = 0;
    for c in digits.chars() {
        match c.to_digit(radix) {
            Some(d) => n = n.saturating_mul(radix as u64).saturating_add(d as u64),
            None => break,
        }
    }
    if neg {
        n.wrapping_neg()
    } else {
        n
    }
}

fn getopts_spec() -> getopts::Options {
    let mut o = getopts::Options::new();
    o.parsing_style(getopts::ParsingStyle::FloatingFrees);
    for spec in OPTIONS {
        match spec.arg {
            // optmulti: a repeated option is no error; the last one wins, as with getopt.
            Some(a) => o.optmulti(spec.short, spec.long, spec.help, a),
            None => o.optflagmulti(spec.short, spec.long, spec.help),
        };
    }
    o
}

fn getopt_message(prog: &str, f: &getopts::Fail) -> String {
    use getopts::Fail::*;
    let dashless = |n: &str| n.trim_start_matches('-').to_string();
    match f {
        UnrecognizedOption(n) if n.chars().count() > 1 => {
            format!("{prog}: unrecognized option '--{}'", dashless(n))
        }
        UnrecognizedOption(n) => format!("{prog}: invalid option -- '{}'", dashless(n)),
        ArgumentMissing(n) if n.chars().count() > 1 => {
            format!("{prog}: option '--{}' requires an argument", dashless(n))
        }
        ArgumentMissing(n) => format!("{prog}: option requires an argument -- '{}'", dashless(n)),
        UnexpectedArgument(n) => format!("{prog}: option '--{}' doesn't allow an argument", dashless(n)),
        other => format!("{prog}: {other}"),
    }
}

/// A command line that cannot be run: `msg`, then the usage, on stderr; exit status 1.
fn usage_error(argv0: &str, msg: String) -> Parsed {
    Parsed::Exit { status: 1, stdout: String::new(), stderr: format!("{msg}\n{}", usage(argv0)) }
}

/// A whole decimal number (optional sign), as `-t` takes it; `None` for anything else.
fn whole_decimal(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| atoi(s))
}

/// A whole number in C notation (`0x` hex, `0` octal, decimal), as `-l` and `-r` take it;
/// `None` for anything else, trailing characters included.
fn whole_number(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let valid = if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' {
        b[2..].iter().all(u8::is_ascii_hexdigit)
    } else if b.first() == Some(&b'0') {
        b.iter().all(|c| (b'0'..=b'7').contains(c))
    } else {
        !b.is_empty() && b.iter().all(u8::is_ascii_digit)
    };
    valid.then(|| strtoul0(s))
}

/// Parses the arguments (argv[0] included).
pub fn parse(args: &[OsString]) -> Parsed {
    let argv0 = args.first().map_or_else(|| "honeytrap".to_string(), |a| a.to_string_lossy().into_owned());
    let prog = Path::new(&argv0).file_name().map_or("honeytrap".into(), |n| n.to_string_lossy().into_owned());
    let rest: Vec<String> = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let m = match getopts_spec().parse(&rest) {
        Ok(m) => m,
        Err(f) => return usage_error(&argv0, getopt_message(&prog, &f)),
    };
    let last = |n: &str| m.opt_strs(n).pop();

    // Pass 1 of the original: -t, -v, -h/-? in command-line order.
    let mut first: Vec<(usize, &str)> = Vec::new();
    for n in ["t", "v", "h", "?"] {
        if let Some(&p) = m.opt_positions(n).first() {
            first.push((p, n));
        }
    }
    first.sort();
    let mut opts = Options::new(&argv0);
    for (_, n) in first {
        match n {
            "t" => {
                let v = whole_decimal(&last("t").unwrap_or_default());
                match v.and_then(|v| u8::try_from(v).ok()).and_then(Level::from_u8) {
                    Some(l) => opts.log_level = l,
                    None => return usage_error(&argv0, "  Error - Log level must be a value between 0 and 6.".into()),
                }
            }
            "v" => {
                return Parsed::Exit {
                    status: 0,
                    stdout: format!("{} {}\n", crate::PACKAGE, crate::VERSION),
                    stderr: String::new(),
                }
            }
            _ => return Parsed::Exit { status: 0, stdout: usage(&argv0), stderr: String::new() },
        }
    }

    opts.config_file = last("C").map(PathBuf::from);
    opts.foreground = m.opt_present("D");
    opts.logfile = last("L").map(PathBuf::from);
    opts.pidfile = last("P").map(PathBuf::from);
    opts.user = last("u");
    opts.group = last("g");
    opts.promisc = m.opt_present("p");
    opts.interface = last("i");
    opts.address = last("a");
    opts.mirror = m.opt_present("m");
    opts.check_config = m.opt_present("check-config");
    opts.replay = last("replay").map(PathBuf::from);
    opts.download = m.opt_positions("download").last() > m.opt_positions("no-download").last();
    for (letter, what) in [("l", "Listen"), ("r", "Read")] {
        if let Some(v) = last(letter) {
            match whole_number(&v).and_then(|n| u8::try_from(n).ok()) {
                Some(n) if letter == "l" => opts.listen_timeout = n,
                Some(n) => opts.read_timeout = n,
                None => {
                    return usage_error(&argv0, format!("  Error - {what} timeout must be a value between 0 and 255."));
                }
            }
        }
    }
    if !m.free.is_empty() {
        opts.bpf = Some(m.free.join(" "));
    }
    Parsed::Run(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<OsString> {
        std::iter::once("honeytrap").chain(s.iter().copied()).map(OsString::from).collect()
    }

    fn run(s: &[&str]) -> Options {
        match parse(&args(s)) {
            Parsed::Run(o) => o,
            other => panic!("{s:?} -> {other:?}"),
        }
    }

    fn exit(s: &[&str]) -> (i32, String, String) {
        match parse(&args(s)) {
            Parsed::Exit { status, stdout, stderr } => (status, stdout, stderr),
            other => panic!("{s:?} -> {other:?}"),
        }
    }

    #[test]
    fn c_number_parsing() {
        for (s, n) in [("3", 3), (" 4x", 4), ("abc", 0), ("-2", -2), ("+6", 6), ("", 0)] {
            assert_eq!(atoi(s), n, "{s:?}");
        }
        for (s, n) in
            [("120", 120), ("0x10", 16), ("0X1f", 31), ("010", 8), ("09", 0), ("abc", 0), ("12abc", 12), ("0x", 0)]
        {
            assert_eq!(strtoul0(s), n, "{s:?}");
        }
        assert_eq!(strtoul0("-1"), u64::MAX);
    }

    #[test]
    fn defaults() {
        let o = run(&[]);
        assert_eq!(o, Options::new("honeytrap"));
        assert_eq!((o.listen_timeout, o.read_timeout, o.log_level), (120, 1, Level::Notice));
    }

    #[test]
    fn every_option() {
        let o = run(&[
            "-D",
            "-p",
            "-m",
            "-t",
            "5",
            "-C",
            "/x.conf",
            "-L",
            "/l",
            "-P",
            "/p",
            "-u",
            "nobody",
            "-g",
            "nogroup",
            "-l",
            "0x20",
            "-r",
            "7",
            "-i",
            "lo",
            "-a",
            "127.0.0.1",
            "--check-config",
        ]);
        assert!(o.foreground && o.promisc && o.mirror && o.check_config);
        assert_eq!(o.log_level, Level::Noisy);
        assert_eq!(o.config_file.as_deref(), Some(Path::new("/x.conf")));
        assert_eq!(o.logfile.as_deref(), Some(Path::new("/l")));
        assert_eq!(o.pidfile.as_deref(), Some(Path::new("/p")));
        assert_eq!((o.user.as_deref(), o.group.as_deref()), (Some("nobody"), Some("nogroup")));
        assert_eq!((o.listen_timeout, o.read_timeout), (32, 7));
        assert_eq!((o.interface.as_deref(), o.address.as_deref()), (Some("lo"), Some("127.0.0.1")));
        assert_eq!(o.bpf, None);
    }

    #[test]
    fn attached_arguments_and_bundles() {
        let o = run(&["-t6", "-Dp", "-ilo"]);
        assert_eq!(o.log_level, Level::Debug);
        assert!(o.foreground && o.promisc);
        assert_eq!(o.interface.as_deref(), Some("lo"));
    }

    #[test]
    fn permutation_and_double_dash() {
        let o = run(&["not", "port", "22", "-D", "-t", "2"]);
        assert_eq!(o.bpf.as_deref(), Some("not port 22"));
        assert!(o.foreground);
        assert_eq!(o.log_level, Level::Warn);
        let o = run(&["-D", "--", "-t", "tcp"]);
        assert_eq!(o.bpf.as_deref(), Some("-t tcp"));
        assert_eq!(o.log_level, Level::Notice);
    }

    #[test]
    fn last_repeated_option_wins() {
        let o = run(&["-L", "/a", "-L", "/b"]);
        assert_eq!(o.logfile.as_deref(), Some(Path::new("/b")));
    }

    #[test]
    fn version_and_usage() {
        assert_eq!(exit(&["-v"]), (0, format!("honeytrap {}\n", crate::VERSION), String::new()));
        let (st, out, err) = exit(&["-h"]);
        assert_eq!((st, err.as_str()), (0, ""));
        assert!(out.starts_with("Usage: honeytrap [ -Dpmv ] [ -i interface ]"));
        assert!(out.contains("\t-l:\tlisten timeout (sec), default is 120\n"));
        assert!(out.contains("\t--check-config:\t"));
        assert_eq!(exit(&["-?"]).1, out);
        // -v wins over everything after it, even a bad -t
        assert_eq!(exit(&["-v", "-t", "9"]).0, 0);
        assert_eq!(exit(&["-t", "9", "-v"]).0, 1);
    }

    /// A usage error: status 1, nothing on stdout, `first` then the usage on stderr.
    fn usage_error(s: &[&str], first: &str) {
        let (st, out, err) = exit(s);
        assert_eq!((st, out.as_str()), (1, ""), "{s:?}");
        assert_eq!(err, format!("{first}\n{}", usage("honeytrap")), "{s:?}");
    }

    #[test]
    fn log_level_errors() {
        for bad in ["7", "-1", "abc", "", "3x", " 3", "0x3"] {
            usage_error(&["-t", bad], "  Error - Log level must be a value between 0 and 6.");
        }
        assert_eq!(run(&["-t", "0"]).log_level, Level::Off);
        assert_eq!(run(&["-t", "+4"]).log_level, Level::Info);
    }

    #[test]
    fn timeout_errors() {
        for bad in ["256", "300", "x", "", "12abc", "09", "0x", "-1"] {
            usage_error(&["-l", bad], "  Error - Listen timeout must be a value between 0 and 255.");
            usage_error(&["-r", bad], "  Error - Read timeout must be a value between 0 and 255.");
        }
        assert_eq!(run(&["-r", "0377"]).read_timeout, 255);
        assert_eq!(run(&["-l", "0x1f"]).listen_timeout, 31);
        assert_eq!(run(&["-l", "0"]).listen_timeout, 0);
    }

    #[test]
    fn bad_options_print_usage_and_exit_one() {
        usage_error(&["-Z"], "honeytrap: invalid option -- 'Z'");
        usage_error(&["-l"], "honeytrap: option requires an argument -- 'l'");
        usage_error(&["--bogus"], "honeytrap: unrecognized option '--bogus'");
        usage_error(&["-mx"], "honeytrap: invalid option -- 'x'");
        usage_error(&["--check-config=yes"], "honeytrap: option '--check-config' doesn't allow an argument");
    }

    #[test]
    fn monitor_choice() {
        // Nothing chooses: the build-time default (nfq unless built with STREAM_MON=pcap).
        let cfg = Config::default();
        assert_eq!(run(&[]).monitor(&cfg), build_monitor());
        assert_eq!(run(&["-D", "tcp", "port", "80"]).monitor(&cfg), build_monitor());
        // -i, -a and -p are options only pcap knows: they select it, whatever the file says.
        for nfq_cfg in [Config::default(), Config { monitor: Some(MonitorKind::Nfq), ..Config::default() }] {
            assert_eq!(run(&["-i", "lo"]).monitor(&nfq_cfg), MonitorKind::Pcap);
            assert_eq!(run(&["-a", "10.0.0.1"]).monitor(&nfq_cfg), MonitorKind::Pcap);
            assert_eq!(run(&["-p"]).monitor(&nfq_cfg), MonitorKind::Pcap);
        }
        // The monitor key beats the build-time default.
        let cfg = Config { monitor: Some(MonitorKind::Pcap), ..Config::default() };
        assert_eq!(run(&[]).monitor(&cfg), MonitorKind::Pcap);
        let cfg = Config { monitor: Some(MonitorKind::Nfq), ..Config::default() };
        assert_eq!(run(&[]).monitor(&cfg), MonitorKind::Nfq);
        assert_eq!(run(&["-m", "-D", "tcp"]).monitor(&cfg), MonitorKind::Nfq);
    }

    #[test]
    fn build_time_monitor() {
        assert_eq!(stream_mon(None), MonitorKind::Nfq);
        assert_eq!(stream_mon(Some("nfq")), MonitorKind::Nfq);
        assert_eq!(stream_mon(Some("pcap")), MonitorKind::Pcap);
        for other in ["", "PCAP", "ipq", " pcap"] {
            assert_eq!(stream_mon(Some(other)), MonitorKind::Nfq, "{other:?}");
        }
        assert_eq!(build_monitor(), stream_mon(option_env!("HONEYTRAP_STREAM_MON")));
    }
}
