//! Writing an export where the user said, and only there.
//!
//! - `-` (or no path) is standard output.
//! - The session database and its `-wal`, `-shm` and `-journal` files are refused, by whatever
//!   path (links, `..`) they are reached.
//! - An existing FIFO or character device is written through, not replaced; a symbolic link is
//!   followed and its target written (a regular target is replaced atomically beside itself).
//! - An existing regular file is replaced atomically (a temporary file beside it, then a
//!   rename), keeping its permissions; a read-only one is refused rather than overwritten.
//! - Errors name the path asked for, never the temporary file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use hark_replay::versions::ExportKind;

use crate::format::{Format, render};
use crate::pipeline::SessionTranscript;

/// Why an export was not written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{} is Hark's session database (or one of its files); exporting there would destroy it. Choose another path", .0.display())]
    IsDatabase(PathBuf),
    #[error("{} is a directory; give a file name", .0.display())]
    IsDirectory(PathBuf),
    #[error("{} is read-only; it was left as it is. Remove it or choose another path", .0.display())]
    ReadOnly(PathBuf),
    #[error("{} cannot be written: the directory {} does not exist", .path.display(), .dir.display())]
    NoDirectory { path: PathBuf, dir: PathBuf },
    #[error("{} cannot be written: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// A saved session's current transcript in `kind`'s format, or its audio (16 kHz mono, 32-bit
/// float samples exactly as captured).
pub fn session_bytes(r: &hark_store::Reader, id: i64, kind: ExportKind) -> Result<Vec<u8>, hark_store::StoreError> {
    let s = r.session(id)?;
    let format = match kind {
        ExportKind::Wav => return Ok(hark_capture::wav_16k(&r.audio(id)?, hark_capture::WavFormat::Float32)),
        ExportKind::Txt => Format::Txt,
        ExportKind::Srt => Format::Srt,
        ExportKind::Vtt => Format::Vtt,
        ExportKind::Json => Format::Json,
    };
    let t = SessionTranscript::from_store(&r.segments(id)?, s.duration_s);
    Ok(render(&t, format).into_bytes())
}

/// Where an export went, for the message after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Stdout,
    File(PathBuf),
}

/// The files that make up the database at `db`.
fn database_files(db: &Path) -> Vec<PathBuf> {
    let mut v = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        v.push(PathBuf::from(s));
    }
    v
}

/// `path` with its directory resolved (links, `..`), whether or not the file exists.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(path.file_name()?))
}

fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Writes `bytes` to `output` (`None` or `-`: standard output), never onto the database `db`.
pub fn write_export(output: Option<&Path>, db: &Path, bytes: &[u8]) -> Result<Written, ExportError> {
    let path = match output {
        None => return stdout(bytes),
        Some(p) if p.as_os_str() == "-" => return stdout(bytes),
        Some(p) => p,
    };
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    if database_files(db).iter().any(|f| same_file(path, f)) {
        return Err(ExportError::IsDatabase(path.to_path_buf()));
    }
    // Follow a symbolic link to what it names, so the link stays a link.
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().unwrap_or_else(|_| path.to_path_buf()),
        _ => path.to_path_buf(),
    };
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => Err(ExportError::IsDirectory(path.to_path_buf())),
        Ok(m) if !m.is_file() => {
            // A FIFO, a terminal, a device: write through it.
            let mut f = OpenOptions::new().write(true).open(&target).map_err(io)?;
            f.write_all(bytes).map_err(io)?;
            Ok(Written::File(path.to_path_buf()))
        }
        Ok(m) => {
            if m.permissions().readonly() {
                return Err(ExportError::ReadOnly(path.to_path_buf()));
            }
            replace(&target, bytes, Some(m.permissions())).map_err(io)?;
            Ok(Written::File(path.to_path_buf()))
        }
        Err(_) => {
            let dir = match target.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !dir.is_dir() {
                return Err(ExportError::NoDirectory { path: path.to_path_buf(), dir });
            }
            replace(&target, bytes, None).map_err(io)?;
            Ok(Written::File(path.to_path_buf()))
        }
    }
}

fn stdout(bytes: &[u8]) -> Result<Written, ExportError> {
    let io = |source| ExportError::Io { path: PathBuf::from("standard output"), source };
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).map_err(io)?;
    out.flush().map_err(io)?;
    Ok(Written::Stdout)
}

/// Writes a temporary file beside `target` and renames it over `target`.
fn replace(target: &Path, bytes: &[u8], keep: Option<std::fs::Permissions>) -> std::io::Result<()> {
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    let perms = keep.unwrap_or_else(|| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::Permissions::from_mode(0o644)
        }
        #[cfg(not(unix))]
        {
            tmp.as_file().metadata().map(|m| m.permissions()).unwrap_or_else(|_| unreachable!())
        }
    });
    tmp.as_file().set_permissions(perms)?;
    tmp.persist(target).map_err(|e| e.error)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_in(dir: &Path) -> PathBuf {
        let db = dir.join("hark.db");
        std::fs::write(&db, b"SQLite format 3\0 precious").unwrap();
        std::fs::write(dir.join("hark.db-wal"), b"wal").unwrap();
        db
    }

    #[test]
    fn the_database_is_refused_by_any_path() {
        let d = tempfile::tempdir().unwrap();
        let db = db_in(d.path());
        std::fs::create_dir(d.path().join("sub")).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&db, d.path().join("link")).unwrap();
        for p in [db.clone(), d.path().join("sub/../hark.db"), d.path().join("hark.db-wal"), d.path().join("link")] {
            let e = write_export(Some(&p), &db, b"x").unwrap_err();
            assert!(matches!(e, ExportError::IsDatabase(_)), "{p:?}: {e}");
        }
        // A -shm that does not exist yet is refused too.
        assert!(matches!(
            write_export(Some(&d.path().join("hark.db-shm")), &db, b"x"),
            Err(ExportError::IsDatabase(_))
        ));
        assert_eq!(std::fs::read(&db).unwrap(), b"SQLite format 3\0 precious");
    }

    #[cfg(unix)]
    #[test]
    fn links_fifos_and_read_only_files_are_respected() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::Builder::new().prefix("export-test").tempdir().unwrap();
        let db = db_in(d.path());
        // A link: the target is written, the link stays a link.
        let target = d.path().join("target.txt");
        std::fs::write(&target, "old").unwrap();
        let link = d.path().join("out.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_export(Some(&link), &db, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // A read-only file is refused and keeps its content and mode.
        let ro = d.path().join("ro.txt");
        std::fs::write(&ro, "keep").unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert!(matches!(write_export(Some(&ro), &db, b"x"), Err(ExportError::ReadOnly(_))));
        assert_eq!(std::fs::read(&ro).unwrap(), b"keep");
        assert_eq!(std::fs::metadata(&ro).unwrap().permissions().mode() & 0o777, 0o444);
        // A file's mode is kept when it is replaced.
        let priv_ = d.path().join("private.txt");
        std::fs::write(&priv_, "a").unwrap();
        std::fs::set_permissions(&priv_, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_export(Some(&priv_), &db, b"b").unwrap();
        assert_eq!(std::fs::metadata(&priv_).unwrap().permissions().mode() & 0o777, 0o600);
        // A FIFO is written through, not replaced.
        let fifo = d.path().join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_export(Some(&fifo), &db, b"through").unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        assert!(!std::fs::metadata(&fifo).unwrap().is_file());
        // Errors name the path asked for, once.
        let e = write_export(Some(&d.path().join("missing/out.txt")), &db, b"x").unwrap_err().to_string();
        assert!(e.contains("missing/out.txt") && e.contains("does not exist") && !e.contains(".tmp"), "{e}");
        let e = write_export(Some(d.path()), &db, b"x").unwrap_err().to_string();
        assert!(e.contains("is a directory") && e.matches("directory").count() == 1, "{e}");
    }
}
