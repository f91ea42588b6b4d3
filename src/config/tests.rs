//! The config file's validation: defaults, and every invalid value refused with its key.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::extract::PageLimits;

pub(super) const GOOD: &str = r#"
[site]
url = "http://127.0.0.1:8080/top250?start={offset}"
first_page = 0
last_page = 9
page_size = 25

[threads]
crawlers = 3
parsers = 2

[extract]
item = "div.pl2"
[extract.fields]
title = "a"
link = "a@href"

[output]
path = "out/items.jsonl"
"#;

fn err_of(text: &str) -> String {
    format!("{:#}", Config::from_toml(text).unwrap_err())
}

#[test]
fn good_config_gets_defaults() {
    let c = Config::from_toml(GOOD).unwrap();
    assert_eq!(c.site.page_count(), Some(10));
    assert_eq!(c.site.url_of(2), "http://127.0.0.1:8080/top250?start=50");
    assert_eq!(c.threads.crawlers.get(), 3);
    assert_eq!(c.threads.parsers.get(), 2);
    assert_eq!(c.queues.items.get(), 1024);
    assert_eq!(c.queues.items_bytes.get(), 16 << 20);
    assert_eq!(c.http.timeout, Duration::from_secs(30));
    assert_eq!(c.http.retries, 3);
    assert_eq!(c.log.stats_interval, Some(Duration::from_secs(60)));
    assert_eq!(c.output.state, PathBuf::from("out/items.jsonl.state"));
    assert_eq!(c.output.sync, SyncMode::Batch);
    assert_eq!(c.http.shutdown_grace, Duration::from_secs(30));
    let names: Vec<_> = c
        .extract
        .field_specs()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(names, ["title", "link"], "config order is kept");
}

#[test]
fn page_placeholder_and_until_empty() {
    let text = GOOD
        .replace("?start={offset}", "/p/{page}")
        .replace("last_page = 9\n", "");
    let c = Config::from_toml(&text).unwrap();
    assert_eq!(c.site.last_page, None);
    assert_eq!(c.site.url_of(7), "http://127.0.0.1:8080/top250/p/7");
    assert_eq!(
        (c.site.max_pages, c.site.max_failed_in_a_row),
        (100_000, 20)
    );
    assert_eq!(c.site.max_page(), 99_999);
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = GOOD.replace("parsers = 2", "parsers = 2\nparsrs = 4");
    let err = err_of(&text);
    assert!(err.contains("parsrs"), "{err}");
    assert!(err.contains("line 11"), "{err}");
}

#[test]
fn wrong_type_is_rejected() {
    let err = err_of(&GOOD.replace("crawlers = 3", "crawlers = \"three\""));
    assert!(err.contains("crawlers") || err.contains("line 9"), "{err}");
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn zero_counts_and_capacities_are_rejected() {
    let err = err_of(&GOOD.replace("crawlers = 3", "crawlers = 0"));
    assert!(
        err.contains("`threads.crawlers` must be at least 1"),
        "{err}"
    );
    let err = err_of(&GOOD.replace("parsers = 2", "parsers = 0"));
    assert!(
        err.contains("`threads.parsers` must be at least 1"),
        "{err}"
    );
    for key in ["pages", "html", "items"] {
        let err = err_of(&format!("{GOOD}\n[queues]\n{key} = 0\n"));
        assert!(
            err.contains(&format!("`queues.{key}` must be at least 1")),
            "{err}"
        );
    }
    let err = err_of(&GOOD.replace("page_size = 25", "page_size = 0"));
    assert!(err.contains("`site.page_size`"), "{err}");
    for key in ["max_pages", "max_failed_in_a_row"] {
        let err = err_of(&GOOD.replace("page_size = 25", &format!("{key} = 0")));
        assert!(
            err.contains(&format!("`site.{key}` must be at least 1")),
            "{err}"
        );
    }
    for key in ["max_items_per_page", "max_bytes_per_page"] {
        let err = err_of(&GOOD.replace("[extract]\n", &format!("[extract]\n{key} = 0\n")));
        assert!(
            err.contains(&format!("`extract.{key}` must be at least 1")),
            "{err}"
        );
    }
    let text = GOOD.replace("[extract]\n", "[extract]\nmax_items_per_page = 7\n");
    let config = Config::from_toml(&text).unwrap();
    assert_eq!(config.extract.limits().max_items, 7);
    assert_eq!(
        config.extract.limits().max_bytes,
        PageLimits::default().max_bytes
    );
    assert!(config.describe().contains("max_items_per_page = 7"));
}

#[test]
fn url_needs_a_placeholder_and_http() {
    let err = err_of(&GOOD.replace("?start={offset}", ""));
    assert!(err.contains("must contain `{page}` or `{offset}`"), "{err}");
    let err = err_of(&GOOD.replace("http://127.0.0.1:8080", "ftp://x"));
    assert!(err.contains("http:// or https://"), "{err}");
}

#[test]
fn bad_selector_names_the_field() {
    let err = err_of(&GOOD.replace("link = \"a@href\"", "link = \"a[@@\""));
    assert!(err.contains("extract.fields.link"), "{err}");
    let err = err_of(&GOOD.replace("item = \"div.pl2\"", "item = \"div..pl2\""));
    assert!(err.contains("extract.item"), "{err}");
}

#[test]
fn range_and_durations_are_checked() {
    let err = err_of(&GOOD.replace("first_page = 0", "first_page = 20"));
    assert!(err.contains("before `site.first_page`"), "{err}");
    let err = err_of(&format!("{GOOD}\n[http]\ntimeout_secs = 0\n"));
    assert!(err.contains("`http.timeout_secs`"), "{err}");
    let err = err_of(&format!("{GOOD}\n[http]\nmax_body_bytes = 0\n"));
    assert!(err.contains("`http.max_body_bytes`"), "{err}");
}

#[test]
fn every_bound_is_enforced_on_its_key() {
    let in_http = |line: &str| err_of(&format!("{GOOD}\n[http]\n{line}\n"));
    assert!(in_http("timeout_secs = 3601").contains("`http.timeout_secs`"));
    assert!(in_http("max_redirects = 21").contains("`http.max_redirects` must be at most 20"));
    assert!(in_http("backoff_ms = 60001").contains("`http.backoff_ms` must be at most"));
    assert!(in_http("max_body_bytes = 1073741825").contains("`http.max_body_bytes`"));
    assert!(in_http(&format!("user_agent = \"{}\"", "u".repeat(513))).contains("513 bytes"));
    let err = err_of(&format!("{GOOD}\n[queues]\nitems_bytes = 4294967297\n"));
    assert!(
        err.contains("`queues.items_bytes` must be at most 4294967296"),
        "{err}"
    );
    let err = err_of(&GOOD.replace("parsers = 2", "parsers = 257"));
    assert!(
        err.contains("`threads.parsers` must be at most 256"),
        "{err}"
    );
    let err = err_of(&GOOD.replace(
        "link = \"a@href\"",
        &format!("link = \"{}\"", "a ".repeat(600)),
    ));
    assert!(
        err.contains("`extract.fields.link` is 1200 bytes long"),
        "{err}"
    );
    let many: String = (0..101).map(|i| format!("f{i} = \"a\"\n")).collect();
    let err = err_of(&GOOD.replace("link = \"a@href\"\n", &many));
    assert!(
        err.contains("`extract.fields` must be at most 100, got 102"),
        "{err}"
    );
    let err = err_of(&format!("{GOOD}\n[log]\nstats_interval_secs = 86401\n"));
    assert!(err.contains("`log.stats_interval_secs`"), "{err}");
    // The largest allowed values are accepted.
    let c = Config::from_toml(&format!(
        "{GOOD}\n[http]\ndelay_ms = 3600000\nretries = 20\n[queues]\npages = 65536\n"
    ))
    .unwrap();
    assert_eq!((c.http.retries, c.queues.pages.get()), (20, 65536));
}

#[test]
fn sync_mode_and_state_are_checked() {
    let c = Config::from_toml(&GOOD.replace(
        "path = \"out/items.jsonl\"",
        "path = \"o.jsonl\"\nsync = \"page\"\nstate = \"s\"",
    ))
    .unwrap();
    assert_eq!(
        (c.output.sync, c.output.state),
        (SyncMode::Page, "s".into())
    );
    let err = err_of(&GOOD.replace(
        "path = \"out/items.jsonl\"",
        "path = \"o\"\nsync = \"often\"",
    ));
    assert!(err.contains("unknown variant `often`"), "{err}");
    let err = err_of(&GOOD.replace("path = \"out/items.jsonl\"", "path = \"o\"\nstate = \"o\""));
    assert!(err.contains("`output.state` must differ"), "{err}");
}

#[test]
fn missing_tables_are_named() {
    let err = err_of("[output]\npath = \"x\"\n");
    assert!(err.contains("missing table `[site]`"), "{err}");
}

#[test]
fn dedup_must_name_a_field_and_listen_must_be_an_address() {
    let base = "[site]\nurl = \"http://x/?p={page}\"\n[extract]\nitem = \"div\"\n\
                [extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\n";
    let err = format!(
        "{:#}",
        Config::from_toml(&format!("{base}dedup = \"link\"\n")).unwrap_err()
    );
    assert!(
        err.contains("`output.dedup` must name one of the `[extract.fields]` (t)"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        Config::from_toml(&format!("{base}[service]\nlisten = \"localhost\"\n")).unwrap_err()
    );
    assert!(err.contains("`service.listen`"), "{err}");
}

/// [`GOOD`] with `[follow]` and `[download]` tables.
fn with_follow(follow: &str, download: &str) -> String {
    format!(
        "{GOOD}\n[follow]\nfield = \"link\"\n{follow}\n[follow.fields]\nrating = \"strong\"\n\
         cover = \"img@src\"\nalt = \"img@alt\"\n[download]\nfield = \"cover\"\ndir = \"files\"\n{download}\n"
    )
}

#[test]
fn follow_and_download_get_defaults_and_show_in_check() {
    let c = Config::from_toml(&with_follow("", "")).unwrap();
    let follow = c.follow.as_ref().unwrap();
    assert_eq!(
        (follow.index, follow.crawlers.get()),
        (1, 3),
        "crawlers: threads.crawlers"
    );
    let download = c.download.as_ref().unwrap();
    assert_eq!(
        download.index, 3,
        "the item's fields: title, link, rating, cover, alt"
    );
    assert_eq!((download.threads.get(), download.max_bytes), (4, 20 << 20));
    assert_eq!(c.item_fields(), ["title", "link", "rating", "cover", "alt"]);
    assert_eq!(c.http.per_host, None);
    let text = c.describe();
    for line in [
        "[follow]\nfield = \"link\"\ncrawlers = 3\nhosts = []\n",
        "[follow.fields]\nrating = \"strong\"\n",
        "[download]\nfield = \"cover\"\ndir = \"files\"\nthreads = 4\nmax_bytes = 20971520\n",
        "# per_host unset",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    let c = Config::from_toml(
        &with_follow(
            "hosts = [\"*.example.com\"]",
            "name = \"{alt}{ext}\"\nhosts = [\"cdn.example\"]",
        )
        .replace("[threads]", "[http]\nper_host = 4\n[threads]"),
    )
    .unwrap();
    assert_eq!(c.http.per_host.map(NonZeroUsize::get), Some(4));
    let text = c.describe();
    assert!(
        text.contains("hosts = [\"cdn.example\"]\nname = \"{alt}{ext}\""),
        "{text}"
    );
    assert!(text.contains("per_host = 4"), "{text}");
}

/// [`GOOD`] with its `[extract]` table a JSON one, and `site` keys.
fn json_config(site: &str, extract: &str) -> String {
    let (before, rest) = GOOD.split_once("[extract]\n").unwrap();
    let (_, after) = rest.split_once("\n[output]").unwrap();
    format!(
        "{}[extract]\nformat = \"json\"\nitem = \"$.items[*]\"\n{extract}\n\
         [extract.fields]\ntitle = \"$.title\"\nlink = {{ path = \"$.link\", type = \"url\" }}\n\
         \n[output]{after}",
        before.replacen("[site]\n", &format!("[site]\n{site}\n"), 1)
    )
}

#[test]
fn json_listings_read_jsonpaths_and_their_errors_name_the_key() {
    let c = Config::from_toml(&json_config("", "")).unwrap();
    assert!(c.extract.is_json());
    let text = c.describe();
    assert!(
        text.contains("[extract]\nformat = \"json\"\nitem = \"$.items[*]\"\n"),
        "{text}"
    );
    assert!(!text.contains("engine = \"stream\"\nmax_items"), "{text}");
    for (site, extract, says) in [
        (
            "",
            "engine = \"dom\"",
            "`extract.engine` chooses how HTML is parsed; with `extract.format = \"json\"` leave it out",
        ),
        (
            "has_next = \"$.has_next\"",
            "",
            "`site.has_next` finds the end of an \"until empty\" listing, and `site.last_page`",
        ),
    ] {
        let err = err_of(&json_config(site, extract));
        assert!(err.contains(says), "{site} {extract}: {err}");
    }
    let until_empty = json_config("has_next = \"$.has_next[\"", "").replace("last_page = 9\n", "");
    let err = err_of(&until_empty);
    assert!(
        err.contains("`site.has_next` = \"$.has_next[\" is not a JSONPath (RFC 9535)"),
        "{err}"
    );
    let err = err_of(&json_config("", "").replace("\"$.items[*]\"", "\"items\""));
    assert!(
        err.contains("`extract.item` = \"items\" is not a JSONPath: it starts with `$`"),
        "{err}"
    );
    let err = err_of(
        &GOOD
            .replace("[site]\n", "[site]\nhas_next = \"$.more\"\n")
            .replace("last_page = 9\n", ""),
    );
    assert!(
        err.contains(
            "`site.has_next` is a JSONPath on a JSON page: it needs `extract.format = \"json\"`"
        ),
        "{err}"
    );
    let err = err_of(&with_follow("format = \"json\"\nnext = \"a@href\"", ""));
    assert!(
        err.contains("it cannot be used with `follow.format = \"json\"` yet"),
        "{err}"
    );
    let err = err_of(&with_follow("format = \"json\"", ""));
    assert!(
        err.contains("`follow.fields.rating` = \"strong\" is not a JSONPath"),
        "{err}"
    );
}

#[test]
fn follow_next_reads_parts_and_shows_in_check() {
    let c = Config::from_toml(&with_follow("next = \"div.nav a.next@data-next\"", "")).unwrap();
    let follow = c.follow.as_ref().unwrap();
    let parts = follow.parts.as_ref().unwrap();
    assert_eq!(parts.max_pages.get(), 100, "the default");
    assert_eq!(parts.all, [false, false, false]);
    // The detail fields, then the next link: a URL even from a `data-` attribute.
    let names: Vec<&str> = parts.extract.field_names().collect();
    assert_eq!(names, ["rating", "cover", "alt", crate::config::NEXT_LINK]);
    let (_, next) = parts.extract.field_specs().last().unwrap();
    assert_eq!(next.kind, crate::extract::Kind::Url);
    let text = c.describe();
    assert!(
        text.contains("next = \"div.nav a.next@data-next\"\nmax_pages = 100\n"),
        "{text}"
    );
    let c = Config::from_toml(&with_follow("", "")).unwrap();
    assert!(c.follow.as_ref().unwrap().parts.is_none());
    assert!(
        c.describe()
            .contains("# next unset: a detail page is one page")
    );
}

#[test]
fn follow_and_download_values_are_checked_with_their_keys() {
    for (follow, download, says) in [
        ("crawlers = 0", "", "`follow.crawlers` must be at least 1"),
        (
            "crawlers = 513",
            "",
            "`follow.crawlers` must be at most 512",
        ),
        (
            "hosts = [\"*\"]",
            "",
            "`follow.hosts[0]` would allow every host",
        ),
        (
            "hosts = [\"http://cdn.x/\"]",
            "",
            "`follow.hosts[0]` must be a host name, not a URL",
        ),
        ("", "threads = 0", "`download.threads` must be at least 1"),
        (
            "",
            "max_bytes = 0",
            "`download.max_bytes` must be at least 1",
        ),
        (
            "",
            "max_bytes = 17179869185",
            "`download.max_bytes` must be at most 17179869184",
        ),
        (
            "",
            "name = \"../{alt}{ext}\"",
            "has an empty, `.` or `..` folder",
        ),
        ("", "name = \"{atl}{ext}\"", "did you mean `{alt}`?"),
        ("", "name = \"cover.jpg\"", "must use at least one field"),
        (
            "next = \"a.next\"",
            "",
            "`follow.next` = \"a.next\" takes the link's text; name the attribute that holds \
             the next part's URL, as \"a.next@href\"",
        ),
        (
            "next = { css = \"a.next\", attr = \"href\" }",
            "",
            "`follow.next` must be a string such as \"a.next@href\"",
        ),
        ("next = \"a[@href\"", "", "`follow.next`"),
        (
            "max_pages = 5",
            "",
            "`follow.max_pages` bounds the parts `follow.next` reads: set `follow.next` too",
        ),
        (
            "next = \"a.next@href\"\nmax_pages = 0",
            "",
            "`follow.max_pages` must be at least 1",
        ),
        (
            "",
            "hosts = [\"cdn.x:8080\"]",
            "`download.hosts[0]` must be a host without a port",
        ),
    ] {
        let err = err_of(&with_follow(follow, download));
        assert!(err.contains(says), "{follow} {download}: {err}");
    }
    let err = err_of(&with_follow("", "").replace("field = \"link\"", "field = \"lnk\""));
    assert!(
        err.contains(
            "`follow.field` must name one of the `[extract.fields]` (title, link), got \"lnk\""
        ),
        "{err}"
    );
    let err = err_of(&with_follow("", "").replace("field = \"cover\"", "field = \"covr\""));
    assert!(
        err.contains("`download.field` must name one of the item's fields"),
        "{err}"
    );
    let err = err_of(&with_follow("", "").replace("rating = \"strong\"", "title = \"strong\""));
    assert!(
        err.contains("`follow.fields.title`: the name \"title\" is already taken"),
        "{err}"
    );
    let err = err_of(&with_follow("", "").replace("rating = \"strong\"", "rating = \"a[\""));
    assert!(err.contains("follow.fields.rating"), "{err}");
    let err = err_of(&with_follow("", "").replace("dir = \"files\"", "dir = \"\""));
    assert!(err.contains("`download.dir` must not be empty"), "{err}");
    for bad in ["per_host = 0", "per_host = 513"] {
        let err = err_of(&GOOD.replace("[threads]", &format!("[http]\n{bad}\n[threads]")));
        assert!(err.contains("`http.per_host` must be at"), "{err}");
    }
}

/// GOOD as a listing paged by next links: `site.url` its first page, "until empty", and
/// `site` keys added.
fn next_config(site: &str) -> String {
    GOOD.replace("?start={offset}", "")
        .replace("last_page = 9\n", "")
        .replace("[site]\n", &format!("[site]\n{site}\n"))
}

#[test]
fn next_links_are_read_and_their_mistakes_named() {
    let config = Config::from_toml(&next_config("next = \"span.next a@href\"")).unwrap();
    assert_eq!(
        config.next.as_ref().map(|n| n.as_str()),
        Some("span.next a@href")
    );
    let text = config.describe();
    assert!(text.contains("next = \"span.next a@href\""), "{text}");
    let cursor = next_config(
        "next = \"span.cursor\"\nnext_url = \"http://127.0.0.1:8080/top250?after={next}\"",
    );
    assert!(Config::from_toml(&cursor).is_ok());
    for (text, says) in [
        (
            GOOD.replace("?start={offset}", ""),
            "`site.url` must contain `{page}` or `{offset}`: \"http://127.0.0.1:8080/top250\" \
             (for a listing paged by next links, set `site.next`",
        ),
        (
            GOOD.replace("last_page = 9\n", "next = \"a@href\"\n"),
            "`site.next` pages the listing by its next links, so `site.url` is the first page \
             alone: remove `{page}` and `{offset}`",
        ),
        (
            next_config("next = \"a@href\"\nlast_page = 9"),
            "`site.next` finds the end of the listing where a page has no next link, and \
             `site.last_page` (9) says where it ends already",
        ),
        (
            GOOD.replace(
                "last_page = 9\n",
                "next_url = \"http://h.example/?c={next}\"\n",
            ),
            "`site.next_url` is where the cursor `site.next` finds goes: set `site.next` too",
        ),
        (
            next_config("next = \"span.next a\""),
            "`site.next` = \"span.next a\" takes the link's text; name the attribute that holds \
             the next page's URL, as \"span.next a@href\"",
        ),
        (next_config("next = \"a[[x@href\""), "`site.next`"),
        (
            next_config("next = \"a@href\"\nnext_url = \"http://h.example/?c={cursor}\""),
            "`site.next_url` has an unknown placeholder `{cursor}`: did you mean `{next}`?",
        ),
        (
            next_config("next = \"a@href\"\nnext_url = \"http://h.example/\""),
            "`site.next_url` must contain `{next}`",
        ),
        (
            next_config("next = \"a@href\"")
                + "[frontier]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n",
            "`site.next` cannot be used with `frontier.kind = \"redis\"`",
        ),
    ] {
        let err = err_of(&text);
        assert!(err.contains(says), "{text}\n{err}");
    }
    // On JSON pages the next link is a JSONPath, checked as the fields are.
    let json = next_config("next = \"$.next[\"")
        .replace(
            "item = \"div.pl2\"",
            "format = \"json\"\nitem = \"$.items[*]\"",
        )
        .replace("title = \"a\"\nlink = \"a@href\"", "title = \"$.t\"");
    let err = err_of(&json);
    assert!(
        err.contains("`site.next` = \"$.next[\" is not a JSONPath"),
        "{err}"
    );
}

#[test]
fn a_shared_crawl_runs_as_a_service_only_with_a_key() {
    let shared = format!(
        "{GOOD}\n[frontier]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
         [schedule]\nevery_secs = 60\n"
    );
    let err = err_of(&shared);
    assert!(
        err.contains("`schedule.every_secs` with `frontier.kind = \"redis\"` needs `output.key`"),
        "{err}"
    );
    let keyed = shared.replace("[output]\n", "[output]\nkey = \"link\"\n");
    let config = Config::from_toml(&keyed).unwrap();
    assert!(
        config.http.conditional,
        "on by default for a keyed shared crawl"
    );
}
