//! Test-only fault injection: proof that a panic in one part of the daemon (the signal thread,
//! a listener, a connection, a pipeline stage) is contained the way the architecture promises.
//! New in this program; the C original had nothing of the kind.
//!
//! In debug builds the environment variable `HONEYTRAP_FAULT` names the points where the daemon
//! panics on purpose: a comma-separated list of `name` (panic at every pass) or `name@N` (panic
//! only at the N-th pass, counted from 1). Release builds compile [`inject`] to nothing, so an
//! installed daemon never reads the variable.

/// Panics when the fault switch names `point` for this pass (debug builds only). The panic
/// is reported at the caller's place in the source.
#[inline]
#[track_caller]
pub fn inject(point: &str) {
    #[cfg(debug_assertions)]
    if let Some(n) = armed::hit(point) {
        panic!("injected fault at {point} (pass {n})");
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

#[cfg(debug_assertions)]
mod armed {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};

    /// The variable that arms the switch.
    pub const VAR: &str = "HONEYTRAP_FAULT";

    /// One armed point: its name and the pass that panics (`None`: every pass).
    #[derive(Debug, PartialEq, Eq)]
    pub struct Point {
        pub name: String,
        pub pass: Option<u64>,
    }

    /// Parses the variable's value; malformed entries are ignored (a test sees them not fire).
    pub fn parse(spec: &str) -> Vec<Point> {
        spec.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .filter_map(|s| match s.split_once('@') {
                None => Some(Point { name: s.to_string(), pass: None }),
                Some((name, n)) => {
                    n.parse().ok().filter(|&n| n > 0).map(|n| Point { name: name.to_string(), pass: Some(n) })
                }
            })
            .collect()
    }

    fn points() -> &'static [Point] {
        static POINTS: OnceLock<Vec<Point>> = OnceLock::new();
        POINTS.get_or_init(|| std::env::var(VAR).map(|v| parse(&v)).unwrap_or_default())
    }

    /// Counts a pass of `point` and returns its number when this pass is to panic.
    pub fn hit(point: &str) -> Option<u64> {
        let armed: Vec<&Point> = points().iter().filter(|p| p.name == point).collect();
        if armed.is_empty() {
            return None;
        }
        static PASSES: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
        let mut passes = PASSES.lock().unwrap_or_else(|e| e.into_inner());
        let n = passes.get_or_insert_with(HashMap::new).entry(point.to_string()).or_insert(0);
        *n += 1;
        let n = *n;
        armed.iter().any(|p| p.pass.is_none_or(|k| k == n)).then_some(n)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn spec_parsing() {
            assert_eq!(
                parse("listener, connection@2,,bad@x,zero@0"),
                vec![Point { name: "listener".into(), pass: None }, Point { name: "connection".into(), pass: Some(2) }]
            );
            assert!(parse("").is_empty());
        }

        #[test]
        fn unarmed_points_never_fire() {
            // The test process does not set the variable.
            if std::env::var_os(VAR).is_none() {
                for _ in 0..3 {
                    assert_eq!(hit("anything"), None);
                }
                super::super::inject("anything");
            }
        }
    }
}
