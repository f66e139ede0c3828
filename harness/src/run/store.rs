//! The run store: one folder per run,
//! `<store>/<test-name>/<YYYYMMDDTHHMMSS>/`, holding `test.json`,
//! `history.jsonl`, `results.json` and `nodes/`; `<store>/latest` points
//! to the newest run whose cluster served. A folder whose cluster never
//! served keeps its node logs (the error names them) but is marked as no
//! run, and `serve` and `analyze` pass it by.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::error::UsageError;

/// The file names inside a run folder.
pub const TEST: &str = "test.json";
/// The journal.
pub const HISTORY: &str = "history.jsonl";
/// The checkers' results.
pub const RESULTS: &str = "results.json";
/// The field of `test.json` a run writes when it ends (absent: it died).
pub const ENDED: &str = "ended";
/// The field of `test.json` that says why the cluster never served (the
/// folder holds no run).
pub const NOT_STARTED: &str = "not_started";

/// What interrupted a run's main phase (`Ctrl-C`, `SIGTERM`), if
/// anything did (from its `test.json`).
pub fn interrupted(test: &serde_json::Value) -> Option<&str> {
    let ended = test.get(ENDED)?;
    (ended["interrupted"] == true).then(|| ended["by"].as_str().unwrap_or("a signal"))
}

/// Why the run in a folder never started, if it did not (from its
/// `test.json`).
pub fn not_started(test: &serde_json::Value) -> Option<&str> {
    test.get(NOT_STARTED).and_then(|v| v.as_str())
}

/// `YYYYMMDDTHHMMSS` in UTC for a time since the epoch.
fn stamp(secs: u64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm), so no date crate is needed.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Creates a fresh run folder for `test_name` (`latest` is pointed at it
/// once its cluster serves: `point_latest`).
/// Runs started in the same second (in this process or another) get
/// `-2`, `-3`… suffixes: the folder is claimed by creating it, which only
/// one can do.
pub fn create_run(store: &Path, test_name: &str) -> Result<PathBuf> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let base = store.join(test_name);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let mut n = 1;
    let dir = loop {
        let dir = match n {
            1 => base.join(stamp(secs)),
            _ => base.join(format!("{}-{n}", stamp(secs))),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => break dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    };
    Ok(dir)
}

/// Points `<store>/latest` at the run folder `dir`.
pub fn point_latest(store: &Path, dir: &Path) -> Result<()> {
    let latest = store.join("latest");
    let target = dir.strip_prefix(store).unwrap_or(dir);
    // A link of our own, renamed over `latest`: the swap is atomic and two
    // runs never share the temporary name.
    let own = target.display().to_string().replace('/', "_");
    let tmp = store.join(format!(".latest.{own}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).with_context(|| format!("creating {}", tmp.display()))?;
    std::fs::rename(&tmp, &latest).with_context(|| format!("pointing {} at the run", latest.display()))
}

/// The run folder `latest` points to.
pub fn latest(store: &Path) -> Result<PathBuf> {
    let link = store.join("latest");
    let target = std::fs::read_link(&link).map_err(|_| {
        UsageError(format!(
            "no run in {} yet: {} is missing",
            store.display(),
            link.display()
        ))
    })?;
    let dir = store.join(target);
    if !dir.join(HISTORY).exists() {
        return Err(UsageError(format!("{} has no {HISTORY}", dir.display())).into());
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_in_the_same_second_get_their_own_folders() {
        let store = std::env::temp_dir().join(format!("faultline-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        let dirs: Vec<PathBuf> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let dir = create_run(&store, "t").unwrap();
                        point_latest(&store, &dir).unwrap();
                        dir
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = dirs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{dirs:?}");
        assert!(dirs.iter().all(|d| d.is_dir()));
        assert!(store.join("latest").exists());
        std::fs::remove_dir_all(&store).unwrap();
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(stamp(0), "19700101T000000");
        assert_eq!(stamp(951_782_400), "20000229T000000");
        assert_eq!(stamp(1_795_748_645), "20261127T030405");
    }
}
