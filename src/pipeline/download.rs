//! The download stage (`[download]`): pages in, the same pages out with every item's files on
//! disk and listed in its `files`.
//!
//! A downloader takes one whole page at a time and, for each item, each URL of the download
//! field (resolved against the page's URL), with the help of every other downloader that is free
//! ([`super::crew`]: a page's files go out `download.threads` at a time, and come back in order):
//! a file already complete under a name its URL claimed is `"uptodate"` and not fetched again; any other is fetched through the crawl's shared
//! client into a temporary file in `download.dir`, synced and renamed to its final name
//! ([`crate::store::files`]), `"downloaded"`. The item gains `"files": [{url, path, checksum,
//! status}]` in the order of its URLs, as Scrapy's FilesPipeline writes it.
//!
//! A page leaves this stage only when every file of every item is on disk, so the writer's
//! commit means "items written and files stored": a file that fails after its retries (or is
//! larger than `max_bytes`) fails its whole page, which the next run fetches again (its stored
//! files are then up to date). At the grace deadline after a stop, the page being worked on is
//! dropped like every page still queued; a `kill -9` leaves at most a temporary, never a partial
//! file under a final name, and the next start sweeps it. The stage never writes the output.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crossbeam_channel::Receiver;
use log::debug;
use url::Url;

use super::budget::Onward;
use super::crew::{Crew, Work};
use super::error::{FileError, PageError};
use super::message::{Item, Parsed};
use super::stage::{
    Context, Incomplete, Refusals, Stage, complete_pages, first_link, resolve_link, urls_of,
};
use crate::config::{Config, DownloadConfig, SyncMode};
use crate::extract::Value;
use crate::http::{Client, FetchError};
use crate::shutdown::Shutdown;
use crate::store::dedup::AlreadyWritten;
use crate::store::file_names::FileNames;
use crate::store::files::{
    AtomicFile, Checksum, extension_for, folders_to_sync, possible_extensions, sync_dir, uptodate,
    url_digest,
};

/// The downloaders' crew: the files of a page in, their records out.
pub(crate) type FileCrew = Crew<FileJob, FileRecord>;

/// One file of a page to store: its URL, the item it belongs to (for its name), its position in
/// the item and, with `download.referer`, the page its URL was found on.
pub(crate) struct FileJob {
    url: Url,
    item: Arc<Item>,
    n: usize,
    referer: Option<String>,
}

/// One downloader thread's share of the work.
pub(crate) struct Downloader {
    /// The HTTP client, shared with every thread that sends requests.
    pub client: Client,
    /// `[download]`: the field, the folder, the size cap, the name template, the hosts.
    pub config: Arc<DownloadConfig>,
    /// The item's field names in order, for the name template.
    pub fields: Arc<Vec<String>>,
    /// Whether stored files are synced to disk before their page is committed: not with
    /// `output.sync = "never"`, whose promise (nothing lost to a `kill -9`) holds without it.
    pub sync: bool,
    /// Raised at the end of the grace period after a stop.
    pub give_up: Shutdown,
    /// With `output.dedup`: the items written before, whose files are not fetched (the writer
    /// drops them).
    pub written: Option<AlreadyWritten>,
    /// Which URL each name in `download.dir` holds, shared by the round's downloaders.
    pub names: Arc<FileNames>,
    /// This thread's place among the downloaders, which share each page's files; taken by
    /// [`Downloader::run`].
    pub crew: Option<FileCrew>,
    /// When the download field is a detail field (`[follow.fields]`): the position of the
    /// item's detail link (`follow.field`), the page its file URLs were found on.
    pub detail_link: Option<usize>,
    /// The round's counters (and its shutdown flag, which this stage does not obey).
    pub stage: Stage,
}

/// One stored file, as the item lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileRecord {
    /// The URL it was downloaded from.
    pub url: String,
    /// Where it is: `download.dir` joined with its name.
    pub path: String,
    /// The md5 of its bytes.
    pub checksum: Checksum,
    /// `"downloaded"` now, or `"uptodate"`: complete on disk already.
    pub status: &'static str,
    /// Its name in `download.dir` (components joined by `/`); not part of the item.
    pub name: String,
}

impl FileRecord {
    /// The record as an item's value: an object, keys in Scrapy's order.
    pub fn to_value(&self) -> Value {
        let text = |s: &str| Value::String(s.to_string());
        Value::Object(vec![
            ("url".to_string(), text(&self.url)),
            ("path".to_string(), text(&self.path)),
            (
                "checksum".to_string(),
                Value::String(self.checksum.to_string()),
            ),
            ("status".to_string(), text(self.status)),
        ])
    }
}

impl Downloader {
    /// The round's downloaders: `download.threads` of them; none without `[download]`.
    /// `written` are the items written before (`output.dedup`).
    pub fn build_all(
        config: &Config,
        context: &Context,
        written: &Option<AlreadyWritten>,
    ) -> anyhow::Result<Vec<Downloader>> {
        let Some(download) = &config.download else {
            return Ok(Vec::new());
        };
        let names = Arc::new(FileNames::open(&download.dir)?);
        let list_fields = config.extract.field_names().count();
        let detail_link = config
            .follow
            .as_ref()
            .filter(|_| download.index >= list_fields)
            .map(|follow| follow.index);
        let fields: Vec<String> = config.item_fields().iter().map(|f| f.to_string()).collect();
        let (download, fields) = (Arc::new(download.clone()), Arc::new(fields));
        Ok(Crew::set(download.threads.get())
            .into_iter()
            .enumerate()
            .map(|(i, crew)| Downloader {
                client: context.client.clone(),
                config: download.clone(),
                fields: fields.clone(),
                sync: config.output.sync != SyncMode::Never,
                give_up: context.give_up.clone(),
                written: written.clone(),
                names: names.clone(),
                detail_link,
                crew: Some(crew),
                stage: context.stage(format!("downloader-{i}")),
            })
            .collect())
    }

    /// Downloads the files of pages until `input` is disconnected and drained, or the next
    /// stage is gone; then helps the other downloaders until they are done too.
    pub fn run(mut self, input: Receiver<Parsed>, output: Onward<Parsed>) {
        let crew = self.crew.take().expect("a downloader runs once");
        let mut refusals = Refusals::new("file", "download.hosts", "");
        let work = |job: &FileJob| self.store(&job.url, (&job.item, job.n), job.referer.as_deref());
        complete_pages(
            || crew.next(&input, &work),
            output,
            &self.stage,
            &self.give_up,
            |url, items, learned| {
                #[cfg(test)]
                super::stage::inject_panic(url, "downloader");
                let found_on = &learned.found_on;
                self.complete(url, items, found_on, &mut refusals, (&crew, &work))
            },
        );
        crew.finish(&work);
    }

    /// `items` of the page at `page_url`, each with its `files`. The files of the page are
    /// downloaded by the whole crew at once. `found_on`, when the detail stage filled it in,
    /// holds per item the part each of its file links was found on: their `Referer`.
    fn complete(
        &self,
        page_url: &str,
        mut items: Vec<Item>,
        found_on: &[Vec<Arc<str>>],
        refusals: &mut Refusals,
        (crew, work): (&FileCrew, Work<'_, FileJob, FileRecord>),
    ) -> Result<Vec<Item>, Incomplete> {
        let base = Url::parse(page_url).ok();
        // Every file of the page, in order, and how many each item has.
        let mut jobs = Vec::new();
        let mut counts = Vec::with_capacity(items.len());
        let written = match &self.written {
            Some(written) => written.select(&items),
            None => vec![false; items.len()],
        };
        for (i, (item, written)) in items.iter().zip(written).enumerate() {
            if written {
                counts.push(0);
                continue;
            }
            let urls = urls_of(item.get(self.config.index));
            let referer = self.referer(base.as_ref(), item);
            let parts = found_on.get(i).filter(|_| self.config.referer);
            let shared = Arc::new(item.clone());
            let before = jobs.len();
            for (n, link) in urls.iter().enumerate() {
                let Some(url) = resolve_link(base.as_ref(), link) else {
                    continue;
                };
                if !refusals.allows(&self.client, &self.config.hosts, &url, &self.give_up)? {
                    self.stage.stats.file_refused();
                    continue;
                }
                // The part the link was found on, else the item's page.
                let referer = match parts.and_then(|parts| parts.get(n)) {
                    Some(part) => Some(part.to_string()),
                    None => referer.clone(),
                };
                jobs.push(FileJob {
                    url,
                    item: shared.clone(),
                    n,
                    referer,
                });
            }
            counts.push(jobs.len() - before);
        }
        let mut records = crew.run_all(jobs, work)?.into_iter();
        // The names stored by this page, whose folders are synced before its commit.
        let mut stored = Vec::new();
        for (item, count) in items.iter_mut().zip(counts) {
            let files: Vec<Value> = records
                .by_ref()
                .take(count)
                .map(|record| {
                    if record.status == "downloaded" {
                        stored.push(record.name.clone());
                    }
                    record.to_value()
                })
                .collect();
            item.push(Value::List(files));
        }
        // One sync of each folder makes the page's renames (and new folders) durable, before
        // its commit.
        if !stored.is_empty() && self.sync {
            let dir = &self.config.dir;
            for folder in folders_to_sync(dir, stored.iter().map(String::as_str)) {
                sync_dir(&folder).map_err(|err| {
                    Incomplete::Failed(PageError::SyncDir {
                        dir: folder.display().to_string(),
                        error: Arc::new(err),
                    })
                })?;
            }
        }
        Ok(items)
    }

    /// Stores the file at `url` (the `n`th of `item`), or finds it stored already; with
    /// `download.referer` its request carries `referer`, the page its URL was found on.
    fn store(
        &self,
        url: &Url,
        (item, n): (&Item, usize),
        referer: Option<&str>,
    ) -> Result<FileRecord, Incomplete> {
        let stats = &self.stage.stats;
        let dir = self.config.dir.as_path();
        let failed = |error: FileError| {
            stats.file_failed();
            Incomplete::Failed(PageError::File {
                url: url.to_string(),
                error,
            })
        };
        let url_text = url.as_str();
        let names_failed = |error: anyhow::Error| failed(FileError::Names(Arc::new(error)));
        // A file counts as up to date only under a name this URL has claimed: another URL's
        // file of the name it wants is not this one's.
        for ext in possible_extensions(url) {
            let wanted = self.name(url, item, n, &ext);
            let Some(name) = self
                .names
                .held(&wanted, &ext, url_text)
                .map_err(names_failed)?
            else {
                continue;
            };
            match uptodate(dir, &name) {
                Ok(Some(checksum)) => {
                    stats.file_uptodate();
                    return Ok(self.record(url, dir, &name, checksum, "uptodate"));
                }
                Ok(None) => {}
                Err(err) => {
                    return Err(failed(FileError::Read {
                        path: path(dir, &name),
                        error: Arc::new(err),
                    }));
                }
            }
        }
        let max_bytes = self.config.max_bytes;
        let result = self.client.download(
            url.as_str(),
            referer,
            max_bytes,
            &self.give_up,
            stats,
            |content_type| {
                let ext = extension_for(url, content_type);
                let wanted = self.name(url, item, n, &ext);
                // Claimed before the file is renamed into place: a name on disk is claimed.
                let name = self
                    .names
                    .claim(&wanted, &ext, url_text)
                    .map_err(|err| std::io::Error::other(format!("{err:#}")))?;
                AtomicFile::create(dir, &name, max_bytes).map(|file| Named { name, file })
            },
        );
        let Named { name, file } = match result {
            Ok(done) => done,
            Err(FetchError::Interrupted) => return Err(Incomplete::Abandoned),
            Err(_) if self.give_up.is_requested() => return Err(Incomplete::Abandoned),
            Err(FetchError::TooLarge(limit)) => return Err(failed(FileError::TooLarge(limit))),
            Err(err) => return Err(failed(FileError::Fetch(Arc::new(err)))),
        };
        let stored = file.commit_unsynced_rename(self.sync).map_err(|err| {
            failed(FileError::Store {
                path: path(dir, &name),
                error: Arc::new(err),
            })
        })?;
        stats.file_downloaded(stored.bytes);
        Ok(self.record(url, dir, &name, stored.checksum, "downloaded"))
    }

    /// With `download.referer`, the page on which `item`'s file URLs were found: the list page
    /// (`base`), or the item's detail page when the download field is one of `[follow.fields]`.
    fn referer(&self, base: Option<&Url>, item: &Item) -> Option<String> {
        if !self.config.referer {
            return None;
        }
        let Some(detail_link) = self.detail_link else {
            return base.map(Url::to_string);
        };
        first_link(item.get(detail_link))
            .and_then(|link| resolve_link(base, link))
            .map(|url| url.to_string())
    }

    /// The file name of the `n`th file of `item`, at `url`, with extension `ext`: see
    /// [`file_name`].
    fn name(&self, url: &Url, item: &Item, n: usize, ext: &str) -> String {
        file_name(&self.config, &self.fields, url, (item, n), ext)
    }

    fn record(
        &self,
        url: &Url,
        dir: &Path,
        name: &str,
        checksum: Checksum,
        status: &'static str,
    ) -> FileRecord {
        FileRecord {
            url: url.to_string(),
            path: path(dir, name),
            checksum,
            status,
            name: name.to_string(),
        }
    }
}

/// A file being downloaded, and its name.
struct Named {
    /// Its final name.
    name: String,
    /// The file, under a temporary name until committed.
    file: AtomicFile,
}

impl Write for Named {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// The name `download` wants for the `n`th file of `item` (whose fields are named `fields`), at
/// `url`, with extension `ext`: from the name template (without `{n}`, the second and later
/// files of an item get `-2`, `-3` … before the extension, so that one item's files do not share
/// a name), or the sha1 of the URL when there is none or it gives no name (a null field). The
/// registry may then give a suffixed name, when another URL holds this one.
pub(crate) fn file_name(
    download: &DownloadConfig,
    fields: &[String],
    url: &Url,
    (item, n): (&Item, usize),
    ext: &str,
) -> String {
    let Some(template) = &download.name else {
        return format!("{}{ext}", url_digest(url));
    };
    // A field's text: a string as it is, a number or a list as its JSON.
    let value = |field: &str| {
        let i = fields.iter().position(|name| name == field)?;
        Some(item.get(i)?.key_text()?.into_owned())
    };
    match template.render(&value, ext, n + 1) {
        Ok(name) if n == 0 || template.uses_position() => name,
        Ok(name) => match name.strip_suffix(ext).filter(|_| !ext.is_empty()) {
            Some(stem) => format!("{stem}-{}{ext}", n + 1),
            None => format!("{name}-{}", n + 1),
        },
        Err(why) => {
            debug!("file {url}: `download.name` gives no name ({why}); named by its URL");
            format!("{}{ext}", url_digest(url))
        }
    }
}

/// The path of `name` in `dir`, as the item shows it.
pub(crate) fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_scrapys_objects() {
        let record = FileRecord {
            url: "http://x/a.png".into(),
            path: "out/files/a.png".into(),
            checksum: Checksum([0xab; 16]),
            status: "downloaded",
            name: "a.png".into(),
        };
        let mut json = Vec::new();
        record.to_value().write_json(&mut json);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"url":"http://x/a.png","path":"out/files/a.png","checksum":"abababababababababababababababab","status":"downloaded"}"#
        );
        let list = Value::List(vec![
            Value::String("http://x/1.png".into()),
            Value::Null,
            Value::String(" ".into()),
            Value::String("/2.png".into()),
        ]);
        assert_eq!(urls_of(Some(&list)), ["http://x/1.png", "/2.png"]);
        assert_eq!(urls_of(Some(&Value::Integer(3))), Vec::<&str>::new());
    }
}
