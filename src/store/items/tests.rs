//! Tests of the store (`items/`): its file checks, what a commit makes durable, and what the
//! store says of keys, pages and rounds.

use super::*;

fn store_in(dir: &Path) -> ItemStore {
    ItemStore::open(
        &dir.join("items.db"),
        "link",
        &["title", "link", "price"],
        false,
    )
    .unwrap()
}

/// The row of page `page` (`http://x/?p=<page>`) listing `items` items, as the writer stages
/// it with them.
fn page_row(page: u64, items: u64) -> PageRow {
    PageRow {
        url: format!("http://x/?p={page}"),
        page,
        validators: Validators::default(),
        items,
        items_hash: page,
        next: NamedNext::Numbered,
    }
}

/// The store's `PRAGMA user_version`.
fn schema_version(store: &ItemStore) -> i32 {
    store
        .conn
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

fn row(key: &str, price: &str, page: u64, position: u64) -> ItemRow {
    ItemRow {
        key: key.to_string(),
        fields: vec!["\"T\"".into(), format!("\"{key}\""), price.to_string()],
        page,
        position,
        url: format!("http://x/?p={page}"),
        changed: true,
    }
}

#[test]
fn a_commit_keeps_values_exactly_and_pages_list_them_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    assert_eq!(store.known("/a").unwrap(), None);
    let staged = Staged {
        items: vec![row("/b", "47.010", 0, 1), row("/a", "null", 0, 0)],
        pages: vec![PageRow {
            url: "http://x/?p=0".into(),
            page: 0,
            validators: Validators {
                etag: Some("\"v1\"".into()),
                last_modified: None,
            },
            items: 2,
            items_hash: 42,
            next: NamedNext::At("http://x/?p=1".into()),
        }],
        ..Staged::default()
    };
    assert_eq!(
        store.commit(1, &staged, "{\"t\":\"commit\"}").unwrap(),
        (1, 0)
    );
    let known = store.known("/b").unwrap().unwrap();
    assert_eq!(
        known.fields,
        ["\"T\"", "\"/b\"", "47.010"],
        "the digits as written"
    );
    assert!(!known.gone);
    let page = store.page_items("http://x/?p=0").unwrap();
    assert_eq!(page.hash, Some(42));
    let keys: Vec<&str> = page.items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["/a", "/b"], "in their order on the page");
    let validators = store.page_validators().unwrap();
    assert_eq!(validators["http://x/?p=0"].etag.as_deref(), Some("\"v1\""));
    let named = store.named_next().unwrap();
    assert_eq!(
        named["http://x/?p=0"],
        NamedNext::At("http://x/?p=1".into())
    );
    // Reopened: the same.
    drop(store);
    let store = store_in(dir.path());
    assert_eq!(store.known("/b").unwrap().unwrap().fields[2], "47.010");
    assert_eq!(store.commits_after(1, 0).unwrap().len(), 1);
    assert!(store.commits_after(1, 1).unwrap().is_empty());
    assert!(store.commits_after(2, 0).unwrap().is_empty());
}

#[test]
fn keys_a_round_did_not_list_are_gone_once_and_come_back_new() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let round1 = Staged {
        items: vec![row("/a", "1", 0, 0), row("/b", "2", 0, 1)],
        pages: vec![page_row(0, 2)],
        ..Staged::default()
    };
    store.commit(1, &round1, "{}").unwrap();
    let round2 = Staged {
        items: vec![row("/a", "1", 0, 0)],
        pages: vec![page_row(0, 1)],
        ..Staged::default()
    };
    store.commit(2, &round2, "{}").unwrap();
    let gone = store.unlisted(2, 10).unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!((gone[0].key.as_str(), gone[0].page), ("/b", 0));
    let mark = Staged {
        gone: vec!["/b".into()],
        ..Staged::default()
    };
    store.commit(2, &mark, "{}").unwrap();
    assert!(store.unlisted(2, 10).unwrap().is_empty(), "gone once");
    assert!(store.known("/b").unwrap().unwrap().gone);
    // Listed again: no longer gone.
    store.commit(3, &round1, "{}").unwrap();
    assert!(!store.known("/b").unwrap().unwrap().gone);
}

#[test]
fn a_page_that_answered_304_lists_its_keys_for_the_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let page_row = |page: u64| page_row(page, 1);
    let first = Staged {
        items: vec![row("/a", "1", 0, 0), row("/b", "2", 1, 0)],
        pages: vec![page_row(0), page_row(1)],
        ..Staged::default()
    };
    store.commit(1, &first, "{}").unwrap();
    let again = Staged {
        items: vec![row("/b", "2", 1, 0)],
        pages: vec![page_row(1)],
        not_modified: vec!["http://x/?p=0".into()],
        ..Staged::default()
    };
    store.commit(2, &again, "{}").unwrap();
    assert!(store.unlisted(2, 10).unwrap().is_empty());
    // Round 3: page 1 drops /b; page 0 answers 304 again and still lists /a (and only it).
    let third = Staged {
        pages: vec![page_row(1)],
        not_modified: vec!["http://x/?p=0".into()],
        ..Staged::default()
    };
    store.commit(3, &third, "{}").unwrap();
    let gone: Vec<String> = store
        .unlisted(3, 10)
        .unwrap()
        .into_iter()
        .map(|g| g.key)
        .collect();
    assert_eq!(gone, ["/b"]);
    assert_eq!(store.page_items("http://x/?p=0").unwrap().items.len(), 1);
    // A 304 writes no item: /a was read in round 1, and its page listed it in 2 and 3.
    let rounds: (i64, i64) = store
        .conn
        .query_row(
            "SELECT last_round, listed_round FROM items_now WHERE key = '/a'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!(rounds, (1, 3));
}

#[test]
fn an_item_dropped_in_an_incomplete_round_is_gone_once_its_page_answers_304() {
    // Round 2 reads page 0 without /b but declares nothing gone (it was incomplete); in round
    // 3 the page answers 304: it lists what round 2 read, without /b.
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let first = Staged {
        items: vec![row("/a", "1", 0, 0), row("/b", "2", 0, 1)],
        pages: vec![page_row(0, 2)],
        ..Staged::default()
    };
    store.commit(1, &first, "{}").unwrap();
    let dropped = Staged {
        items: vec![row("/a", "1", 0, 0)],
        pages: vec![page_row(0, 1)],
        ..Staged::default()
    };
    store.commit(2, &dropped, "{}").unwrap();
    let again = Staged {
        not_modified: vec!["http://x/?p=0".into()],
        ..Staged::default()
    };
    assert_eq!(
        store.commit(3, &again, "{}").unwrap().1,
        1,
        "the 304 lists /a again"
    );
    let gone: Vec<String> = store
        .unlisted(3, 10)
        .unwrap()
        .into_iter()
        .map(|g| g.key)
        .collect();
    assert_eq!(gone, ["/b"]);
    assert_eq!(store.page_items("http://x/?p=0").unwrap().items.len(), 1);
}

#[test]
fn a_store_of_schema_version_1_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    let mut store = store_in(dir.path());
    let first = Staged {
        items: vec![row("/a", "1", 0, 0)],
        pages: vec![page_row(0, 1)],
        ..Staged::default()
    };
    store.commit(4, &first, "{}").unwrap();
    // Made as version 1 made it: no fetched_round (nor next), the old index, no view.
    store
        .conn
        .execute_batch(
            "DROP VIEW items_now; DROP INDEX items_on_page; ALTER TABLE pages DROP COLUMN \
             next; ALTER TABLE pages DROP COLUMN fetched_round; CREATE INDEX items_listed ON items (last_round) WHERE gone_round \
             IS NULL; PRAGMA user_version = 1;",
        )
        .unwrap();
    drop(store);
    let store = store_in(dir.path());
    assert_eq!(schema_version(&store), SCHEMA_VERSION);
    assert_eq!(store.page_items("http://x/?p=0").unwrap().items.len(), 1);
    assert!(store.unlisted(4, 10).unwrap().is_empty());
    assert_eq!(store.unlisted(5, 10).unwrap().len(), 1);
    drop(store);
    assert!(path.exists());
}

#[test]
fn another_crawl_or_another_program_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("items.db");
    drop(store_in(dir.path()));
    let err = ItemStore::open(&path, "title", &["title", "link", "price"], false)
        .err()
        .unwrap();
    let text = format!("{err:#}");
    assert!(
        text.contains("made for another crawl") && text.contains("--fresh"),
        "{text}"
    );
    let err = ItemStore::open(&path, "link", &["title", "link"], false)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("made for another crawl"));

    let other = dir.path().join("other.db");
    let conn = Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me');")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&other).unwrap();
    let err = ItemStore::open(&other, "link", &["link"], false)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("another program"), "{err:#}");
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "nothing overwritten"
    );

    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "hello, not a database\n".repeat(100)).unwrap();
    let err = ItemStore::open(&text_file, "link", &["link"], false)
        .err()
        .unwrap();
    let message = format!("{err:#}");
    assert!(
        message.contains("notes.txt") && message.contains("not an SQLite database"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(&text_file).unwrap(),
        "hello, not a database\n".repeat(100)
    );
}

#[test]
fn detail_pages_are_read_back_on_a_connection_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let staged = Staged {
        details: vec![DetailRow {
            url: "http://x/d/1".into(),
            validators: Validators {
                etag: None,
                last_modified: Some("Mon, 07 Dec 2026 00:00:00 GMT".into()),
            },
            fields: vec!["9.5".into(), "[\"a\",\"b\"]".into()],
        }],
        ..Staged::default()
    };
    store.commit(1, &staged, "{}").unwrap();
    let reader = DetailReader::open(&dir.path().join("items.db")).unwrap();
    let known = reader.get("http://x/d/1").unwrap().unwrap();
    assert_eq!(known.fields, ["9.5", "[\"a\",\"b\"]"]);
    assert!(known.validators.last_modified.is_some());
    assert_eq!(reader.get("http://x/d/2").unwrap(), None);
}

#[test]
fn a_store_of_schema_version_2_is_upgraded_and_knows_no_next_links() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_in(dir.path());
    let mut page = page_row(0, 1);
    page.validators.etag = Some("\"e\"".into());
    let first = Staged {
        items: vec![row("/a", "1", 0, 0)],
        pages: vec![page],
        ..Staged::default()
    };
    store.commit(1, &first, "{}").unwrap();
    // Made as version 2 made it: no `pages.next`.
    store
        .conn
        .execute_batch("ALTER TABLE pages DROP COLUMN next; PRAGMA user_version = 2;")
        .unwrap();
    drop(store);
    let store = store_in(dir.path());
    assert_eq!(schema_version(&store), SCHEMA_VERSION);
    // What the page named is not known: a next-link listing asks it in full once more.
    assert!(store.named_next().unwrap().is_empty());
    assert_eq!(store.page_validators().unwrap().len(), 1);
    assert_eq!(store.known("/a").unwrap().unwrap().fields[2], "1");
}
