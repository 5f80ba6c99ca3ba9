//! Atomic writes: every file gentk leaves (tables, charts, manifests, cache entries) is written to a
//! temporary name beside its destination and renamed into place, so a reader sees the old file or
//! the new one, never a torn one; a result folder is written whole in a staging folder and swapped
//! in ([`publish_dir`]), so it never mixes files of two runs; leftovers of killed writers are
//! removed by the next run ([`remove_leftovers`]). Temporary names are unique per write (process id + counter), so
//! concurrent writers of the same file — duplicate sweep points, parallel runs — never collide.

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
    dir.join(format!(".{name}.tmp{}-{n}{ext}", std::process::id()))
}

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

/// The process id written into a temporary name by [`temp_path`] or [`staging_dir`]
/// (`.<name>.tmp<pid>-<n>…`), if `name` is one.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp")?;
    tail.split('-').next()?.parse().ok()
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
        if temp_owner(&name).is_some_and(|pid| !alive(pid)) {
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
        // A leftover of a dead writer (pid 0 never names a user process) is removed; ours is not.
        let dead = root.join(".exp.tmp0-7");
        std::fs::create_dir_all(&dead).unwrap();
        let ours = staging_dir(&dest).unwrap();
        assert_eq!(remove_leftovers(&root), 1);
        assert!(!dead.exists() && ours.exists());
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
