//! Downloaded files on disk, as Scrapy's FilesPipeline stores them: named `<sha1 of the
//! URL><ext>` (or by a `download.name` template from the item's fields), written under a
//! temporary name, synced and renamed, so that a file under its final name is always complete,
//! even after `kill -9`; and a file already complete is not fetched again.
//!
//! It owns names, the atomic write with its size cap and md5, and the sweep of temporaries a
//! crash left. It fetches nothing: the download stage streams a body into an [`AtomicFile`].

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use md5::{Digest as _, Md5};
use sha1::Sha1;
use url::Url;

/// The suffix of temporary files.
const PART_SUFFIX: &str = ".part";

/// Content types and the extension a file of that type gets when its URL shows none. A table
/// of our own: the usual extension for each type (`.jpg`, not `.jfif` or `.jpe`, which
/// `mime_guess`'s lists give first for image/jpeg).
const EXTENSIONS: [(&str, &str); 44] = [
    ("image/jpeg", ".jpg"),
    ("image/pjpeg", ".jpg"),
    ("image/png", ".png"),
    ("image/gif", ".gif"),
    ("image/webp", ".webp"),
    ("image/avif", ".avif"),
    ("image/svg+xml", ".svg"),
    ("image/bmp", ".bmp"),
    ("image/tiff", ".tiff"),
    ("image/x-icon", ".ico"),
    ("image/vnd.microsoft.icon", ".ico"),
    ("image/heic", ".heic"),
    ("application/pdf", ".pdf"),
    ("application/zip", ".zip"),
    ("application/gzip", ".gz"),
    ("application/x-gzip", ".gz"),
    ("application/x-tar", ".tar"),
    ("application/x-7z-compressed", ".7z"),
    ("application/vnd.rar", ".rar"),
    ("application/x-rar-compressed", ".rar"),
    ("application/json", ".json"),
    ("application/xml", ".xml"),
    ("text/xml", ".xml"),
    ("text/html", ".html"),
    ("text/plain", ".txt"),
    ("text/csv", ".csv"),
    ("text/markdown", ".md"),
    ("application/epub+zip", ".epub"),
    ("application/msword", ".doc"),
    ("application/vnd.ms-excel", ".xls"),
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".docx",
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".xlsx",
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ".pptx",
    ),
    ("audio/mpeg", ".mp3"),
    ("audio/ogg", ".ogg"),
    ("audio/wav", ".wav"),
    ("audio/x-wav", ".wav"),
    ("audio/flac", ".flac"),
    ("audio/mp4", ".m4a"),
    ("video/mp4", ".mp4"),
    ("video/webm", ".webm"),
    ("video/quicktime", ".mov"),
    ("font/woff2", ".woff2"),
    ("font/woff", ".woff"),
];

/// An md5 digest: the `checksum` of a stored file, as Scrapy reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum(pub [u8; 16]);

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// The hex sha1 of `url`: the default file name of a download is this, then
/// [`extension_for`].
pub fn url_digest(url: &Url) -> String {
    let digest = Sha1::digest(url.as_str().as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The extensions a download of `url` may have been stored with: the URL's own, when it shows
/// one; else any that a `Content-Type` gives, or none. What an up-to-date check must look for
/// before the response (and its type) is known.
pub fn possible_extensions(url: &Url) -> Vec<String> {
    let own = extension_for(url, None);
    if !own.is_empty() {
        return vec![own];
    }
    let mut all: Vec<String> = vec![String::new()];
    for (_, ext) in EXTENSIONS {
        if !all.iter().any(|known| known == ext) {
            all.push(ext.to_string());
        }
    }
    all
}

/// A download's extension with its dot, lower-case: the URL's, when its last path segment ends
/// in a plausible one (1 to 8 ASCII letters and digits, at least one letter, after a
/// non-empty stem: `.jpg`, `.mp4`, `.7z`, not `v1.2` or `.htaccess`), else the one of its
/// `Content-Type`, else none.
pub fn extension_for(url: &Url, content_type: Option<&str>) -> String {
    let segment = url.path_segments().and_then(|mut s| s.next_back());
    if let Some((stem, ext)) = segment.and_then(|s| s.rsplit_once('.'))
        && !stem.is_empty()
        && (1..=8).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && ext.bytes().any(|b| b.is_ascii_alphabetic())
    {
        return format!(".{}", ext.to_ascii_lowercase());
    }
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase());
    EXTENSIONS
        .iter()
        .find(|(ty, _)| Some(*ty) == essence.as_deref())
        .map_or_else(String::new, |(_, ext)| ext.to_string())
}

/// A file stored by [`AtomicFile::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its final path.
    pub path: PathBuf,
    /// The md5 of its bytes.
    pub checksum: Checksum,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A file being written under a temporary name in its final folder, which becomes its final
/// name only once complete and synced ([`AtomicFile::commit`]). Dropped without a commit (an
/// error, a body over the cap, a stop), it removes its temporary file; killed, it leaves one
/// that [`sweep_stale_parts`] removes at the next start. Writes are counted against a cap and
/// hashed with md5 on the way.
#[derive(Debug)]
pub struct AtomicFile {
    /// The temporary file, buffered; `None` once committed.
    file: Option<BufWriter<File>>,
    /// Its path: `.<final name>.<pid>.<n>.part` in the final folder.
    temp: PathBuf,
    /// The final path.
    path: PathBuf,
    /// The md5 of what was written so far.
    md5: Md5,
    /// Bytes written so far.
    written: u64,
    /// The most bytes the file may hold (`max_bytes`).
    max_bytes: u64,
}

impl AtomicFile {
    /// Starts the file `name` in `dir` (a plain name, or a relative path whose components are
    /// joined by `/`: its folders are created as needed, see [`path_inside`]), to hold at most
    /// `max_bytes` bytes.
    pub fn create(dir: &Path, name: &str, max_bytes: u64) -> io::Result<AtomicFile> {
        let path = path_inside(dir, name, true)?;
        let (Some(folder), Some(base)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a file name: {name:?}"),
            ));
        };
        let base = base.to_string_lossy();
        // One counter for the process: two downloads of one name never share a temporary.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = folder.join(format!(".{base}.{}.{n}{PART_SUFFIX}", std::process::id()));
        let file = File::options().write(true).create_new(true).open(&temp)?;
        Ok(AtomicFile {
            file: Some(BufWriter::with_capacity(64 * 1024, file)),
            temp,
            path,
            md5: Md5::new(),
            written: 0,
            max_bytes,
        })
    }

    /// Bytes written so far.
    #[cfg(test)]
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the file complete under its final name: flushes it, syncs it, renames it over any
    /// older file of that name, and syncs the folder so the rename survives a crash.
    #[cfg(test)]
    pub fn commit(self) -> io::Result<Stored> {
        let dir = self.path.parent().map(Path::to_path_buf);
        let stored = self.commit_unsynced_rename(true)?;
        if let Some(dir) = dir {
            sync_dir(&dir)?;
        }
        Ok(stored)
    }

    /// [`AtomicFile::commit`] without syncing the folder (and, without `sync`, without syncing
    /// the file): for several files of one folder, whose renames one [`sync_dir`] then makes
    /// durable together. Without either sync a `kill -9` still never leaves a partial file
    /// under a final name (the rename comes after the last write); a power cut may.
    pub fn commit_unsynced_rename(mut self, sync: bool) -> io::Result<Stored> {
        let file = self.file.take().expect("an AtomicFile is committed once");
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        if sync {
            file.sync_all()?;
        }
        drop(file);
        if let Err(err) = fs::rename(&self.temp, &self.path) {
            let _ = fs::remove_file(&self.temp);
            return Err(err);
        }
        Ok(Stored {
            path: self.path.clone(),
            checksum: Checksum(self.md5.clone().finalize().into()),
            bytes: self.written,
        })
    }
}

/// The path of `name` in `dir`, where `name` is a plain name or a relative path of components
/// joined by `/` (from `download.name`'s folders). Nothing may leave `dir`: a component that is
/// empty, `.` or `..`, or holds `\\` or NUL, is refused, and so is a folder on the way that is a
/// symbolic link (it could lead anywhere) or not a folder. With `create`, missing folders are
/// made; without, a missing one is `NotFound`.
pub fn path_inside(dir: &Path, name: &str, create: bool) -> io::Result<PathBuf> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let components: Vec<&str> = name.split('/').collect();
    if components
        .iter()
        .any(|c| c.is_empty() || *c == "." || *c == ".." || c.contains(['\\', '\0']))
    {
        return Err(invalid(format!("not a name inside the folder: {name:?}")));
    }
    let mut path = dir.to_path_buf();
    let (base, folders) = components.split_last().expect("split gives one at least");
    for folder in folders {
        path.push(folder);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(invalid(format!(
                    "{} is a symbolic link: files are never stored through one",
                    path.display()
                )));
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(invalid(format!("{} is not a folder", path.display()))),
            Err(err) if err.kind() == io::ErrorKind::NotFound && create => {
                match fs::create_dir(&path) {
                    Ok(()) => {}
                    // Another downloader made it meanwhile.
                    Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(err) => return Err(err),
                }
            }
            Err(err) => return Err(err),
        }
    }
    path.push(base);
    Ok(path)
}

/// The folders a page's stored files went into, below and including `dir`, whose entries a
/// sync makes durable: every folder on the way to each file (a folder made for it is an entry
/// of its parent).
pub fn folders_to_sync<'a>(dir: &Path, names: impl IntoIterator<Item = &'a str>) -> Vec<PathBuf> {
    let mut folders = std::collections::BTreeSet::from([dir.to_path_buf()]);
    for name in names {
        let mut path = dir.to_path_buf();
        let mut parts: Vec<&str> = name.split('/').collect();
        parts.pop();
        for part in parts {
            path.push(part);
            folders.insert(path.clone());
        }
    }
    folders.into_iter().collect()
}

/// Syncs the folder `dir`, so that the renames into it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.max_bytes {
            return Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("larger than max_bytes ({} bytes)", self.max_bytes),
            ));
        }
        let file = self.file.as_mut().expect("not committed");
        let n = file.write(buf)?;
        self.md5.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The md5 of the file `name` in `dir` when it is there: a file under its final name is
/// complete (only a rename puts it there), so it is up to date and need not be fetched again.
/// `None` when there is none, or something other than a regular file is in its place.
pub fn uptodate(dir: &Path, name: &str) -> io::Result<Option<Checksum>> {
    let path = match path_inside(dir, name, false) {
        Ok(path) => path,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    }
    let mut file = File::open(&path)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(Some(Checksum(md5.finalize().into()))),
            n => md5.update(&buf[..n]),
        }
    }
}

/// Removes the temporary files that downloads killed mid-way left in `dir` (named
/// `.<name>.<pid>.<n>.part`) and last modified before `started`, the time this process
/// started: a temporary that another live process is writing is newer than that, since every
/// write touches it. Returns the paths removed; a missing `dir` has none.
pub fn sweep_stale_parts(dir: &Path, started: SystemTime) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        // `symlink_metadata`: a folder that is a link is not ours, and not entered.
        let meta = fs::symlink_metadata(entry.path())?;
        if meta.is_dir() {
            // A folder of `download.name`'s: its temporaries are swept too.
            removed.extend(sweep_stale_parts(&entry.path(), started)?);
            continue;
        }
        if !name.to_str().is_some_and(is_part_name) {
            continue;
        }
        if meta.is_file() && meta.modified()? < started {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Whether `name` is one of our temporary names: `.<name>.<pid>.<n>.part`.
fn is_part_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(PART_SUFFIX))
    else {
        return false;
    };
    let mut numbers = rest.rsplitn(3, '.');
    let digits =
        |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    digits(numbers.next())
        && digits(numbers.next())
        && numbers.next().is_some_and(|s| !s.is_empty())
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
