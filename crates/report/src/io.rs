//! Atomic writes: every file gentk leaves (tables, charts, manifests, cache entries) is written to a
//! temporary name beside its destination and renamed into place, so a reader sees the old file or
//! the new one, never a torn one; a result folder is written whole in a staging folder and swapped
//! in ([`publish_dir`]), so it never mixes files of two runs; leftovers of killed writers are
//! removed by the next run ([`remove_leftovers`]). Temporary names are unique per write (process
//! id + counter + a tag of the host), so concurrent writers of the same file — duplicate sweep
//! points, parallel runs, the tasks of a cluster job array on one shared filesystem — never
//! collide, and a run judges only its own host's leftovers by process id.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ReportError, Result, io};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path beside `path` (hidden, `.tmp` + pid + counter + the extension kept, so
/// encoders that choose a format by extension still do).
pub fn temp_path(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        ".{name}.tmp{}-{n}-{}{ext}",
        std::process::id(),
        host_tag()
    ))
}

/// A short tag of this machine's host name (FNV-1a, hex), so a process id is read only on the
/// host that wrote it.
fn host_tag() -> String {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        let h = name.trim().bytes().fold(0xcbf2_9ce4_8422_2325u64, |a, b| {
            (a ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        format!("h{:08x}", h as u32)
    })
    .clone()
}

/// How old another host's temporary file must be before it counts as left over (its writer may
/// be alive on that host; no write takes this long).
const FOREIGN_LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Writes `bytes` to `path` atomically (creating its folder).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(io(tmp, "writing"))
    })
}

/// Lets `write` produce the file at a temporary path, then renames it to `path`; on failure the
/// temporary file is removed.
pub fn write_atomic_with<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir, "creating the folder"))?;
    let tmp = temp_path(path);
    let done = write(&tmp).and_then(|()| {
        std::fs::rename(&tmp, path).map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            what: "renaming into place",
            source,
        })
    });
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

/// The process id and host tag written into a temporary name by [`temp_path`] or
/// [`staging_dir`] (`.<name>.tmp<pid>-<n>-<host>…`), if `name` is one.
fn temp_owner(name: &str) -> Option<(u32, String)> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp")?;
    let mut parts = tail.splitn(3, '-');
    let pid = parts.next()?.parse().ok()?;
    let _counter = parts.next()?;
    let host = parts.next().unwrap_or("");
    let host = host.split('.').next().unwrap_or("").to_string();
    Some((pid, host))
}

/// Whether process `pid` may still be running (always true where /proc is not available, so
/// nothing of a live writer is ever removed).
fn alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes temporary files and folders left in `dir` by writers that no longer run (a killed
/// run, a full disk): a damaged temporary file is never data and never accumulates. Returns how
/// many were removed.
pub fn remove_leftovers(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((pid, host)) = temp_owner(&name) else {
            continue;
        };
        let dead = if host == host_tag() {
            !alive(pid)
        } else {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > FOREIGN_LEFTOVER_AGE)
        };
        if dead {
            let p = e.path();
            let gone = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            removed += usize::from(gone.is_ok());
        }
    }
    removed
}

/// A fresh, empty staging folder beside `dest` in which a whole result set is written before
/// [`publish_dir`] swaps it in.
pub fn staging_dir(dest: &Path) -> Result<PathBuf> {
    let tmp = temp_path(dest);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp, "creating the staging folder"))?;
    Ok(tmp)
}

/// Replaces folder `dest` by the fully written `staged` folder: the old folder is renamed aside,
/// the new one renamed into place, the old one removed. A reader sees the old set or the new set
/// of files, never a mix (between the two renames, for an instant, no folder). Nothing of the old
/// folder survives: a result folder holds exactly what its last run wrote.
pub fn publish_dir(staged: &Path, dest: &Path) -> Result<()> {
    let old = temp_path(dest);
    let had_old = dest.exists();
    if had_old {
        std::fs::rename(dest, &old).map_err(io(dest, "moving the previous results aside"))?;
    }
    if let Err(source) = std::fs::rename(staged, dest) {
        if had_old {
            let _ = std::fs::rename(&old, dest);
        }
        return Err(ReportError::Io {
            path: dest.to_path_buf(),
            what: "renaming the new results into place",
            source,
        });
    }
    if had_old {
        std::fs::remove_dir_all(&old).map_err(io(&old, "removing the previous results"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unique_per_write_and_keep_the_extension() {
        let p = Path::new("/x/y/chart.png");
        let (a, b) = (temp_path(p), temp_path(p));
        assert_ne!(a, b);
        assert!(a.to_string_lossy().ends_with(".png"));
        let d = std::env::temp_dir().join(format!("gentk-io-{}", std::process::id()));
        let f = d.join("a.txt");
        write_atomic(&f, b"one").unwrap();
        write_atomic(&f, b"two").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        let failed = write_atomic_with(&f, |tmp| {
            std::fs::write(tmp, b"partial").unwrap();
            Err(ReportError::Chart {
                path: tmp.to_path_buf(),
                source: crate::error::ChartError::Draw("boom".into()),
            })
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&f).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            1,
            "temp file left behind"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_published_folder_replaces_the_old_set_whole() {
        let root = std::env::temp_dir().join(format!("gentk-publish-{}", std::process::id()));
        let dest = root.join("exp");
        std::fs::create_dir_all(&dest).unwrap();
        for (f, t) in [
            ("table.parquet", "old"),
            ("stale.png", "old"),
            ("NOTES.md", "notes"),
        ] {
            std::fs::write(dest.join(f), t).unwrap();
        }
        // A leftover of a dead writer on this host (pid 0 never names a user process) is removed;
        // ours is not, and neither is a fresh one of another host (its pid means nothing here).
        let dead = root.join(format!(".exp.tmp0-7-{}", host_tag()));
        std::fs::create_dir_all(&dead).unwrap();
        let foreign = root.join(".exp.tmp0-8-h0badf00d");
        std::fs::create_dir_all(&foreign).unwrap();
        let ours = staging_dir(&dest).unwrap();
        assert_eq!(remove_leftovers(&root), 1);
        assert!(!dead.exists() && ours.exists() && foreign.exists());
        std::fs::remove_dir_all(&foreign).unwrap();
        std::fs::write(ours.join("table.parquet"), "new").unwrap();
        publish_dir(&ours, &dest).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["table.parquet"], "stale files and old notes go");
        assert_eq!(
            std::fs::read_to_string(dest.join("table.parquet")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            1,
            "no temp folder left"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
