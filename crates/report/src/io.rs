//! Atomic writes: every file gentk leaves (tables, charts, manifests, cache entries) is written to a
//! temporary name beside its destination and renamed into place, so a reader sees the old file or
//! the new one, never a torn one. Temporary names are unique per write (process id + counter), so
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
                message: "boom".into(),
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
}
