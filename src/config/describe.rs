//! The effective settings as `pagecrawl check` prints them, and what changed between two configs
//! (the reload log line).
//!
//! Both come from one list of lines made from the typed [`Config`]: tables, `key = value` pairs
//! and comments. `describe` prints the list; `changes` compares the pairs of two lists, so a
//! key is never spelled twice here and nothing is read back from printed text.

use std::fmt::Write as _;

use super::{Config, FrontierConfig};

/// One line of the printout.
enum Line {
    /// `[name]`, after a blank line unless it is the first line or `tight`.
    Table {
        /// The table's name, such as `http` or `extract.fields`.
        name: &'static str,
        /// No blank line before it (`[extract.fields]` follows `[extract]` at once).
        tight: bool,
    },
    /// `key = value`, the value as the printout shows it (and as a change compares it).
    Set {
        /// The key within its table.
        key: String,
        /// The value, quoted when it is text.
        value: String,
    },
    /// `# note`: what an unset key means, or a consequence worth knowing. Never compared.
    Note(String),
}

fn table(name: &'static str) -> Line {
    Line::Table { name, tight: false }
}

fn set(key: impl Into<String>, value: impl ToString) -> Line {
    Line::Set {
        key: key.into(),
        value: value.to_string(),
    }
}

/// Text, quoted the way the printout has always quoted it.
fn quoted(text: impl AsRef<str>) -> String {
    format!("{:?}", text.as_ref())
}

/// A header name as a TOML key: bare when it can be.
fn header_key(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// A header's value as `check` shows it: credentials (`Cookie`, `Authorization`) are not
/// printed, only their length and a hash, so that a reload still tells they changed.
fn shown_header(name: &str, value: &str) -> String {
    let secret = ["cookie", "authorization"]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s));
    if secret {
        let hash = crate::hash::fnv1a(value.bytes()) & 0xffff_ffff;
        quoted(format!("<hidden: {} bytes, hash {hash:08x}>", value.len()))
    } else {
        quoted(value)
    }
}

fn note(text: impl Into<String>) -> Line {
    Line::Note(text.into())
}

impl Config {
    /// The effective settings, one `key = value` per line, as `pagecrawl check` prints them.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for (i, line) in self.lines().iter().enumerate() {
            // Writing to a String cannot fail.
            let _ = match line {
                Line::Table { name, tight } if i > 0 && !tight => writeln!(out, "\n[{name}]"),
                Line::Table { name, .. } => writeln!(out, "[{name}]"),
                Line::Set { key, value } => writeln!(out, "{key} = {value}"),
                Line::Note(text) => writeln!(out, "# {text}"),
            };
        }
        out
    }

    /// What changed from `self` to `new`, one `table.key: old -> new` line per setting, in the
    /// order `pagecrawl check` prints them. Empty when nothing did.
    pub fn changes(&self, new: &Config) -> Vec<String> {
        let (old, new) = (self.settings(), new.settings());
        let mut out = Vec::new();
        for (key, value) in &old {
            match new.iter().find(|(k, _)| k == key) {
                Some((_, v)) if v == value => {}
                Some((_, v)) => out.push(format!("{key}: {value} -> {v}")),
                None => out.push(format!("{key}: {value} -> unset")),
            }
        }
        for (key, value) in &new {
            if !old.iter().any(|(k, _)| k == key) {
                out.push(format!("{key}: unset -> {value}"));
            }
        }
        out
    }

    /// The `(table.key, value)` pairs of [`Config::lines`], notes left out.
    fn settings(&self) -> Vec<(String, String)> {
        let mut table = "";
        let mut out = Vec::new();
        for line in self.lines() {
            match line {
                Line::Table { name, .. } => table = name,
                Line::Set { key, value } => out.push((format!("{table}.{key}"), value)),
                Line::Note(_) => {}
            }
        }
        out
    }

    /// Every table, setting and note, in the order of the printout.
    fn lines(&self) -> Vec<Line> {
        let mut out = Vec::new();
        let s = &self.site;
        out.extend([
            table("site"),
            set("url", quoted(s.url.as_str())),
            set("first_page", s.first_page),
        ]);
        out.push(match s.last_page {
            Some(last) => set("last_page", last),
            None => note("last_page unset: crawl until a page yields no items"),
        });
        out.extend([
            set("page_size", s.page_size),
            set("max_pages", s.max_pages),
            set("max_failed_in_a_row", s.max_failed_in_a_row),
        ]);
        if s.last_page.is_some() {
            out.push(note(
                "max_pages and max_failed_in_a_row apply without last_page only",
            ));
        }
        out.push(note(format!("first url: {}", s.url_of(s.first_page))));

        let (t, q, h) = (&self.threads, &self.queues, &self.http);
        out.extend([
            table("threads"),
            set("crawlers", t.crawlers),
            set("parsers", t.parsers),
            table("queues"),
            set("pages", q.pages),
            set("html", q.html),
            set("items", q.items),
            set("items_bytes", q.items_bytes),
            table("http"),
            set("user_agent", quoted(&h.user_agent)),
            set("timeout_secs", h.timeout.as_secs_f64()),
            set("connect_timeout_secs", h.connect_timeout.as_secs_f64()),
            set("retries", h.retries),
            set("backoff_ms", h.backoff.as_millis()),
            set("delay_ms", h.delay.as_millis()),
            set("max_body_bytes", h.max_body_bytes),
            set("shutdown_grace_secs", h.shutdown_grace.as_secs_f64()),
            set("max_redirects", h.max_redirects),
            set("follow_offsite_redirects", h.follow_offsite_redirects),
        ]);
        out.push(match &h.proxy {
            Some(proxy) => set("proxy", quoted(proxy)),
            None => note("proxy unset: none is used, whatever the environment says"),
        });
        out.push(match h.per_host {
            Some(n) => set("per_host", n),
            None => note("per_host unset: requests to one host are capped by the thread counts"),
        });
        out.push(set("robots", h.robots));
        if !h.robots {
            out.push(note(
                "robots.txt is not read: every page is fetched, Crawl-delay ignored",
            ));
        }
        out.push(match &h.ca_file {
            Some(ca) => set("ca_file", quoted(ca.path.display().to_string())),
            None => note("ca_file unset: the built-in (Mozilla) roots only"),
        });
        if let Some(ca) = &h.ca_file {
            out.push(note(format!(
                "{} certificates trusted besides the built-in roots",
                ca.len()
            )));
        }
        if !h.headers.is_empty() {
            out.push(Line::Table {
                name: "http.headers",
                tight: false,
            });
            out.push(note("sent to the site's origin only (and its robots.txt)"));
            for (name, value) in h.headers.iter() {
                out.push(set(header_key(name), shown_header(name, value)));
            }
        }

        let extract = &self.extract;
        let limits = extract.limits();
        out.extend([
            table("extract"),
            set("item", quoted(extract.item_selector())),
            set("engine", quoted(extract.engine().name())),
            set("max_items_per_page", limits.max_items),
            set("max_bytes_per_page", limits.max_bytes),
        ]);
        if let Some(why) = extract.stream_unavailable() {
            out.push(note(format!(
                "every page goes to the DOM engine: the stream cannot match {why}"
            )));
        }
        out.push(Line::Table {
            name: "extract.fields",
            tight: true,
        });
        for (name, spec) in extract.field_specs() {
            out.push(set(name, spec.as_toml()));
        }

        self.follow_lines(&mut out);

        let o = &self.output;
        out.extend([
            table("output"),
            set("path", quoted(o.path.display().to_string())),
            set("state", quoted(o.state.display().to_string())),
            set("sync", quoted(o.sync.to_string())),
        ]);
        match &o.dedup {
            Some(dedup) => out.extend([
                set("dedup", quoted(&dedup.field)),
                set("seen", quoted(o.seen.display().to_string())),
            ]),
            None => out.push(note("dedup unset: every item is written, every round")),
        }

        let secs = self.log.stats_interval.map_or(0.0, |d| d.as_secs_f64());
        out.extend([table("log"), set("stats_interval_secs", secs)]);
        out.push(table("schedule"));
        out.push(match self.schedule {
            Some(schedule) => set("every_secs", schedule.every.as_secs()),
            None => note("every_secs unset: crawl once, then exit"),
        });
        out.push(table("service"));
        out.push(match self.service.listen {
            Some(addr) => set("listen", quoted(addr.to_string())),
            None => note("listen unset: no /metrics or /healthz"),
        });

        out.push(table("frontier"));
        match &self.frontier {
            FrontierConfig::Local => out.push(set("kind", quoted("local"))),
            FrontierConfig::Redis(redis) => out.extend([
                set("kind", quoted("redis")),
                set("url", quoted(&redis.url)),
                set("name", quoted(&redis.name)),
                set("lease_secs", redis.lease.as_secs_f64()),
            ]),
        }
        out
    }

    /// The `[follow]` and `[download]` tables, when set.
    fn follow_lines(&self, out: &mut Vec<Line>) {
        let hosts = |listed: &[String]| {
            let quoted: Vec<String> = listed.iter().map(quoted).collect();
            format!("[{}]", quoted.join(", "))
        };
        if let Some(f) = &self.follow {
            out.extend([
                table("follow"),
                set("field", quoted(&f.field)),
                set("crawlers", f.crawlers),
                set("hosts", hosts(&f.hosts_listed)),
                set("engine", quoted(f.extract.engine().name())),
                note("detail pages on other hosts than the site's are skipped unless listed"),
                Line::Table {
                    name: "follow.fields",
                    tight: true,
                },
            ]);
            for (name, spec) in f.extract.field_specs() {
                out.push(set(name, spec.as_toml()));
            }
        }
        if let Some(d) = &self.download {
            out.extend([
                table("download"),
                set("field", quoted(&d.field)),
                set("dir", quoted(d.dir.display().to_string())),
                set("threads", d.threads),
                set("max_bytes", d.max_bytes),
                set("hosts", hosts(&d.hosts_listed)),
            ]);
            out.push(match &d.name {
                Some(name) => set("name", quoted(name)),
                None => note("name unset: each file is <sha1 of its URL><ext>"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn describe_lists_effective_settings() {
        let text = Config::from_toml(crate::config::tests::GOOD)
            .unwrap()
            .describe();
        assert!(text.contains("crawlers = 3"), "{text}");
        assert!(text.contains("link = \"a@href\""), "{text}");
        assert!(text.contains("# first url: http://127.0.0.1:8080/top250?start=0"));
    }

    #[test]
    fn changes_name_each_changed_key() {
        let old = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[threads]\ncrawlers = 4\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\n[output]\npath = \"o\"\n",
        )
        .unwrap();
        let new = Config::from_toml(
            "[site]\nurl = \"http://x/?p={page}\"\n[threads]\ncrawlers = 2\n\
             [extract]\nitem = \"div\"\n[extract.fields]\nt = \"a\"\nu = \"a@href\"\n\
             [output]\npath = \"o\"\ndedup = \"u\"\n[schedule]\nevery_secs = 60\n",
        )
        .unwrap();
        assert!(old.changes(&old).is_empty());
        assert_eq!(
            old.changes(&new),
            [
                "threads.crawlers: 4 -> 2",
                "extract.fields.u: unset -> \"a@href\"",
                "output.dedup: unset -> \"u\"",
                "output.seen: unset -> \"o.seen\"",
                "schedule.every_secs: unset -> 60",
            ]
        );
    }

    #[test]
    fn table_fields_show_their_form_and_their_changes() {
        let config = |fields: &str| {
            Config::from_toml(&format!(
                "[site]\nurl = \"http://x/?p={{page}}\"\n[extract]\nitem = \"div\"\n\
                 [extract.fields]\n{fields}\n[output]\npath = \"o\"\n"
            ))
            .unwrap()
        };
        let old = config("t = \"a\"\ntags = { all = true, css = \"a.tag\" }");
        let text = old.describe();
        assert!(
            text.contains("\ntags = { css = \"a.tag\", all = true }\n"),
            "{text}"
        );
        let new = config("t = { }\ntags = { css = \"a.tag\", all = true, type = \"integer\" }");
        assert_eq!(
            old.changes(&new),
            [
                "extract.fields.t: \"a\" -> { }",
                "extract.fields.tags: { css = \"a.tag\", all = true } -> { css = \"a.tag\", all = true, type = \"integer\" }",
            ]
        );
    }
}
