//! Tests of `files.rs`: names, templates, the atomic writer, the up-to-date check and the sweep.

use std::time::Duration;

use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn names_are_the_sha1_of_the_url_and_an_extension() {
    let u = url("http://x.example/a/b.JPG?x=1");
    // hashlib.sha1(b"http://x.example/a/b.JPG?x=1").hexdigest()
    assert_eq!(
        format!("{}{}", url_digest(&u), extension_for(&u, None)),
        "380d58b466e7e789163e1d842039aca6a6fd4b99.jpg"
    );
    let cases = [
        ("http://x.example/a.tar.gz", None, ".gz"),
        ("http://x.example/clip.MP4", Some("video/mp4"), ".mp4"),
        (
            "http://x.example/get?id=3",
            Some("image/PNG; charset=binary"),
            ".png",
        ),
        (
            "http://x.example/get?id=3",
            Some("application/octet-stream"),
            "",
        ),
        ("http://x.example/get?id=3", None, ""),
        ("http://x.example/v1.2", Some("image/jpeg"), ".jpg"),
        ("http://x.example/.htaccess", None, ""),
        ("http://x.example/a.verylongext", None, ""),
        ("http://x.example/a.j%20g", Some("image/gif"), ".gif"),
        ("http://x.example/dir/", Some("text/html"), ".html"),
    ];
    for (u, ct, ext) in cases {
        assert_eq!(extension_for(&url(u), ct), ext, "{u} {ct:?}");
    }
}

#[test]
fn a_commit_stores_the_whole_file_with_its_md5() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = AtomicFile::create(dir.path(), "a.txt", 5).unwrap();
    // Until the commit, only the temporary exists.
    file.write_all(b"hel").unwrap();
    file.write_all(b"lo").unwrap();
    assert_eq!(file.written(), 5);
    let names = names_in(dir.path());
    assert!(
        names.len() == 1 && names[0].starts_with(".a.txt.") && names[0].ends_with(".part"),
        "{names:?}"
    );
    assert_eq!(uptodate(dir.path(), "a.txt").unwrap(), None);
    let stored = file.commit().unwrap();
    assert_eq!(
        stored.checksum.to_string(),
        "5d41402abc4b2a76b9719d911017c592"
    );
    assert_eq!(
        (stored.path.clone(), stored.bytes),
        (dir.path().join("a.txt"), 5)
    );
    assert_eq!(fs::read(&stored.path).unwrap(), b"hello");
    assert_eq!(names_in(dir.path()), ["a.txt"]);
    assert_eq!(
        uptodate(dir.path(), "a.txt").unwrap(),
        Some(stored.checksum)
    );
    // A second download of the same name replaces it whole.
    let empty = AtomicFile::create(dir.path(), "a.txt", 5)
        .unwrap()
        .commit()
        .unwrap();
    assert_eq!(
        empty.checksum.to_string(),
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"");
}

#[test]
fn no_partial_file_under_the_final_name() {
    let dir = tempfile::tempdir().unwrap();
    // Over the cap: the write fails, and dropping removes the temporary.
    let mut big = AtomicFile::create(dir.path(), "big.bin", 4).unwrap();
    let err = big.write_all(b"12345").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
    assert!(err.to_string().contains("max_bytes (4 bytes)"));
    drop(big);
    // Dropped without a commit (an error, a stop): nothing left.
    let mut abandoned = AtomicFile::create(dir.path(), "x.bin", 100).unwrap();
    abandoned.write_all(b"half").unwrap();
    drop(abandoned);
    assert!(names_in(dir.path()).is_empty());
    for bad in ["", ".", "..", "/a", "a//b", "a/../b", "a/", "a\\b", "a\0b"] {
        let err = AtomicFile::create(dir.path(), bad, 1).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
    }
    // A directory in the way is not an up-to-date file.
    fs::create_dir(dir.path().join("d.jpg")).unwrap();
    assert_eq!(uptodate(dir.path(), "d.jpg").unwrap(), None);
}

#[test]
fn a_killed_download_leaves_a_temporary_that_the_next_start_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let mut killed = AtomicFile::create(dir.path(), "k.jpg", 100).unwrap();
    killed.write_all(b"partial").unwrap();
    killed.flush().unwrap();
    // What kill -9 leaves: no destructor runs.
    std::mem::forget(killed);
    fs::write(dir.path().join(".notours.part"), b"x").unwrap();
    fs::write(dir.path().join("keep.jpg"), b"x").unwrap();
    let names = names_in(dir.path());
    assert_eq!(names.len(), 3);
    assert_eq!(uptodate(dir.path(), "k.jpg").unwrap(), None);
    let part = dir
        .path()
        .join(names.iter().find(|n| n.starts_with(".k.jpg.")).unwrap());
    // A temporary newer than this process's start belongs to a live download: kept.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(
        sweep_stale_parts(dir.path(), hour_ago).unwrap(),
        Vec::<PathBuf>::new()
    );
    // Older than the start: removed; files that are not our temporaries stay.
    File::options()
        .write(true)
        .open(&part)
        .unwrap()
        .set_modified(hour_ago - Duration::from_secs(1))
        .unwrap();
    assert_eq!(sweep_stale_parts(dir.path(), hour_ago).unwrap(), [part]);
    assert_eq!(names_in(dir.path()), [".notours.part", "keep.jpg"]);
    assert_eq!(
        sweep_stale_parts(&dir.path().join("missing"), hour_ago).unwrap(),
        Vec::<PathBuf>::new()
    );
    assert!(is_part_name(".a.b.jpg.12.0.part"));
    assert!(
        !is_part_name(".12.0.part") && !is_part_name(".a.x.0.part") && !is_part_name("a.1.2.part")
    );
}
