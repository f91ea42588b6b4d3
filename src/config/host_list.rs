//! The hosts that follow-ups may go to (`follow.hosts`, `download.hosts`): the site's own host
//! always, and those the config lists, so that a page cannot send the crawler to any host it
//! likes by linking there.
//!
//! It only checks names and matches URLs; the follow and download stages skip what it refuses.

use url::{Host, Url};

/// One listed host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Exactly this host (a domain in its ASCII form, or an IP address).
    Exact(Host<String>),
    /// `*.example.com`: any subdomain of this domain, at any depth (not the domain itself),
    /// held with its leading dot (`.example.com`).
    Subdomains(String),
}

/// The hosts follow-ups may go to. The default, before the config is read whole, allows none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList {
    /// The site's host, then the listed ones.
    patterns: Vec<Pattern>,
}

impl HostList {
    /// The site's host (from `site_url`) and the hosts listed under `key` (`follow.hosts`):
    /// each a host name (internationalised names are taken in either form), an IPv4 address,
    /// an IPv6 address in brackets, or `*.domain` for every subdomain of a domain of two or
    /// more labels. Not a URL, not a port (any port of a listed host is allowed), and not a
    /// bare `*`, which would let any page send the crawler anywhere. Errors name the entry
    /// (`follow.hosts[1]`).
    pub fn from_config(key: &str, listed: &[String], site_url: &Url) -> Result<HostList, String> {
        let site = site_url
            .host()
            .ok_or_else(|| format!("the site's URL has no host: {site_url}"))?;
        let mut patterns = vec![Pattern::Exact(normalise(site.to_owned()))];
        for (i, entry) in listed.iter().enumerate() {
            let pattern = parse_entry(entry.trim())
                .map_err(|why| format!("`{key}[{i}]` {why}: {entry:?}"))?;
            if !patterns.contains(&pattern) {
                patterns.push(pattern);
            }
        }
        Ok(HostList { patterns })
    }

    /// Whether `url` is http(s) on one of the hosts.
    pub fn allows(&self, url: &Url) -> bool {
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let Some(host) = url.host().map(|host| normalise(host.to_owned())) else {
            return false;
        };
        self.patterns.iter().any(|pattern| match (pattern, &host) {
            (Pattern::Exact(listed), host) => listed == host,
            (Pattern::Subdomains(domain), Host::Domain(name)) => name
                .strip_suffix(domain.as_str())
                .is_some_and(|sub| !sub.is_empty()),
            (Pattern::Subdomains(_), _) => false,
        })
    }
}

/// A domain without its trailing dot (`example.com.` is `example.com`).
fn normalise(host: Host<String>) -> Host<String> {
    match host {
        Host::Domain(name) => Host::Domain(name.trim_end_matches('.').to_string()),
        other => other,
    }
}

/// One entry of the list, or why it is not a host.
fn parse_entry(entry: &str) -> Result<Pattern, &'static str> {
    if entry.is_empty() {
        return Err("is empty");
    }
    if entry.contains("://") || entry.contains('/') {
        return Err("must be a host name, not a URL (write \"img.example.com\")");
    }
    if entry == "*" {
        return Err("would allow every host: list them (or `*.example.com` for subdomains)");
    }
    if let Some(domain) = entry.strip_prefix("*.") {
        return match Host::parse(domain) {
            Ok(Host::Domain(name)) if name.trim_end_matches('.').contains('.') => Ok(
                Pattern::Subdomains(format!(".{}", name.trim_end_matches('.'))),
            ),
            Ok(Host::Domain(_)) => Err("is too wide: `*.` needs a domain of two labels or more"),
            Ok(_) => Err("puts `*.` before an IP address"),
            Err(_) => Err("is not a valid host name after `*.`"),
        };
    }
    let bracketless_colon = !entry.starts_with('[') && entry.contains(':');
    if bracketless_colon {
        return Err("must be a host without a port (any port of a listed host is allowed)");
    }
    match Host::parse(entry) {
        Ok(host) => Ok(Pattern::Exact(normalise(host))),
        Err(_) => Err("is not a valid host name"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    fn list(entries: &[&str]) -> Result<HostList, String> {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        HostList::from_config(
            "follow.hosts",
            &entries,
            &url("https://Books.Example:8443/list?p={page}"),
        )
    }

    #[test]
    fn the_sites_host_is_always_allowed() {
        let only_site = list(&[]).unwrap();
        let allowed = [
            "https://books.example/a",
            "http://BOOKS.example:80/b",
            "https://books.example./c",
        ];
        let refused = [
            "https://img.books.example/a",
            "https://other.example/",
            "ftp://books.example/",
            "mailto:x@books.example",
            "data:text/plain,books.example",
        ];
        check(&only_site, &allowed, &refused);
    }

    #[track_caller]
    fn check(hosts: &HostList, allowed: &[&str], refused: &[&str]) {
        for ok in allowed {
            assert!(hosts.allows(&url(ok)), "{ok}");
        }
        for no in refused {
            assert!(!hosts.allows(&url(no)), "{no}");
        }
    }

    #[test]
    fn listed_hosts_and_subdomains() {
        let hosts = list(&[
            "img.cdn.example",
            " *.static.example ",
            "Bücher.example",
            "127.0.0.1",
            "[::1]",
            "books.example",
        ])
        .unwrap();
        let allowed = [
            "https://img.cdn.example/1.jpg",
            "https://a.static.example/x",
            "https://a.b.static.example/x",
            "https://xn--bcher-kva.example/",
            "http://bücher.example/",
            "http://127.0.0.1:9000/x",
            "http://[::1]/x",
        ];
        let refused = [
            "https://cdn.example/",
            "https://static.example/",
            "https://evilstatic.example/",
            "https://static.example.evil/",
            "http://127.0.0.2/",
        ];
        check(&hosts, &allowed, &refused);
    }

    #[test]
    fn entries_that_are_not_hosts_are_named() {
        for (entry, says) in [
            ("", "`follow.hosts[0]` is empty"),
            (
                "https://img.example/",
                "`follow.hosts[0]` must be a host name, not a URL",
            ),
            ("img.example/covers", "not a URL"),
            ("img.example:8080", "without a port"),
            ("*", "would allow every host"),
            ("*.com", "is too wide"),
            ("*.10.0.0.1", "IP address"),
            ("exa mple.com", "is not a valid host name"),
            ("[::1", "is not a valid host name"),
        ] {
            let err = list(&[entry]).unwrap_err();
            assert!(
                err.starts_with("`follow.hosts[0]`") && err.contains(says),
                "{entry:?}: {err}"
            );
        }
        let err = list(&["ok.example", "bad/x"]).unwrap_err();
        assert!(err.starts_with("`follow.hosts[1]`"), "{err}");
    }
}
