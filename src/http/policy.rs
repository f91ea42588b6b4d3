//! Where a crawl may go: the address guard (SSRF) and the redirect policy.
//!
//! A crawl configured for a public site must not be steered by a redirect or a DNS answer to
//! loopback, private, link-local (cloud metadata at 169.254.169.254) or unspecified addresses.
//! The configured site's own addresses are always allowed, so crawling a local or intranet site
//! works. The guard sits in the DNS resolver the HTTP agent uses, so it holds for every
//! connection; redirects are also checked before they are followed. This module decides; it
//! neither fetches nor logs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Whether an address is reachable from the public internet (and so safe to be sent to).
///
/// An IPv6 address that carries an IPv4 address (see [`embedded_v4`]) is judged by that IPv4
/// address: `::ffff:127.0.0.1`, `::127.0.0.1`, `64:ff9b::7f00:1` and `2002:7f00:1::` all lead to
/// loopback as surely as `127.0.0.1` does.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            let embedded = embedded_v4(v6);
            if !embedded.is_empty() {
                return embedded.into_iter().all(is_public_v4);
            }
            let [first, second, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x2001 && second == 0x0db8) // documentation 2001:db8::/32
                || (first == 0x0064 && second == 0xff9b)) // the rest of 64:ff9b::/32: local NAT64
        }
    }
}

/// The IPv4 addresses an IPv6 address leads to, by the standard ways of carrying one: mapped
/// `::ffff:a.b.c.d` and translated `::ffff:0:a.b.c.d`, the deprecated compatible `::a.b.c.d`,
/// NAT64's well-known prefix `64:ff9b::/96` (RFC 6052), 6to4 `2002::/16` (the relay's address,
/// RFC 3056) and Teredo `2001::/32` (its server's address and its client's, which is stored
/// inverted, RFC 4380). Empty for any other address, and for `::` and `::1`, which are IPv6's
/// own unspecified and loopback addresses.
pub fn embedded_v4(v6: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0xffff, 0, hi, lo] => vec![v4(hi, lo)],
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => Vec::new(),
        [0, 0, 0, 0, 0, 0, hi, lo] | [0x0064, 0xff9b, 0, 0, 0, 0, hi, lo] => vec![v4(hi, lo)],
        [0x2002, hi, lo, ..] => vec![v4(hi, lo)],
        [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => {
            vec![v4(server_hi, server_lo), v4(!client_hi, !client_lo)]
        }
        _ => Vec::new(),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_multicast()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))) // shared address space 100.64/10
}

/// The crawl's address and redirect rules.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The configured site: scheme, host (as written in `site.url`, lowercase) and port.
    site: Origin,
    /// The configured site's own addresses, allowed even when not public.
    site_addrs: Vec<IpAddr>,
    /// `http.follow_offsite_redirects`.
    follow_offsite: bool,
}

/// What makes two URLs the same site: scheme, host and port, as a browser's origin.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    /// `http` or `https`, lowercase.
    scheme: String,
    /// The host without brackets or a trailing dot, lowercase.
    host: String,
    /// The port, or the scheme's default (80, 443) when none is written.
    port: u16,
}

impl Origin {
    fn of(uri: &Uri) -> Origin {
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = uri.port_u16().unwrap_or(default_port);
        Origin { scheme, host, port }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.parse::<Ipv6Addr>() {
            Ok(_) => write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port),
            Err(_) => write!(f, "{}://{}:{}", self.scheme, self.host, self.port),
        }
    }
}

impl Policy {
    /// Rules for a crawl of `site_url` (any rendered page URL). Resolves its host once, so that a
    /// site on a private address keeps working; a host that does not resolve now allows nothing
    /// non-public.
    pub fn for_site(site_url: &str, follow_offsite: bool) -> Policy {
        let uri: Uri = site_url.parse().unwrap_or_default();
        let site = Origin::of(&uri);
        let site_addrs = match site.host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (site.host.as_str(), site.port)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        Policy {
            site,
            site_addrs,
            follow_offsite,
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        // `::ffff:a.b.c.d` reaches the very socket `a.b.c.d` does.
        let same = |ip: IpAddr| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        is_public(ip) || self.site_addrs.iter().any(|&own| same(own) == same(ip))
    }

    /// Checks a redirect target before it is followed; `Err` says why it is refused. Without
    /// `follow_offsite_redirects`, only the same site (scheme, host and port) is followed.
    #[cfg(test)]
    pub fn check_redirect(&self, to: &Uri) -> Result<(), String> {
        self.check_redirect_from(to, None)
    }

    /// [`Policy::check_redirect`] for a request that began at `from`: a redirect that stays
    /// on `from`'s origin is followed too (a detail page or a file on a host the config lists,
    /// moving within it). The address check applies whatever the origin.
    pub fn check_redirect_from(&self, to: &Uri, from: Option<&Uri>) -> Result<(), String> {
        match to.scheme_str() {
            Some("http" | "https") => {}
            other => {
                return Err(format!(
                    "redirect to {to} refused: scheme {} is not http or https",
                    other.unwrap_or("(none)")
                ));
            }
        }
        let target = Origin::of(to);
        let same_as_start = from.is_some_and(|from| Origin::of(from) == target);
        if target != self.site && !same_as_start && !self.follow_offsite {
            return Err(format!(
                "redirect to another site ({target}, not {}) refused: same site means the same \
                 scheme, host and port; set http.follow_offsite_redirects = true to follow it",
                self.site
            ));
        }
        if let Ok(ip) = target.host.parse::<IpAddr>()
            && !self.allows_ip(ip)
        {
            return Err(format!(
                "redirect to {ip} refused: not a public address (and not the site's own)"
            ));
        }
        Ok(())
    }
}

/// Resolves `location` against `base`, as a browser does for a `Location` header.
pub fn resolve_location(base: &Uri, location: &str) -> Result<Uri, String> {
    let location = location.trim();
    let bad = |err: &dyn std::fmt::Display| format!("bad redirect Location {location:?}: {err}");
    if let Some((scheme, _)) = location.split_once(':').filter(|(s, _)| is_scheme(s)) {
        // `http::Uri` cannot even hold some schemes (`file:///…`), so refuse them here.
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(format!(
                "redirect to {location:?} refused: scheme {scheme} is not http or https"
            ));
        }
        return location.parse().map_err(|e| bad(&e));
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let absolute = if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = base.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    absolute.parse().map_err(|e| bad(&e))
}

/// Whether `s` looks like a URI scheme (`file`, `ftp`, `javascript`, …).
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// How long a name's addresses are kept before it is resolved again.
const RESOLVED_FOR: Duration = Duration::from_secs(60);
/// Names kept at most; past it the cache starts over.
const RESOLVED_MAX: usize = 1_024;

/// The agent's DNS resolver: the default one, minus every address the policy refuses.
///
/// ureq asks its resolver before every request, pooled connection or not, and its default
/// resolver spawns a thread for each lookup to bound it by the timeout: one thread per
/// request. Here an IP address is taken as it is, and a name's addresses are kept for
/// [`RESOLVED_FOR`]: one lookup (and one thread) per host a minute.
#[derive(Debug)]
pub struct GuardedResolver {
    /// The system resolver.
    inner: DefaultResolver,
    /// The rules.
    policy: Arc<Policy>,
    /// Recent answers: `host:port` to when it was resolved and what it resolved to.
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<Policy>) -> GuardedResolver {
        GuardedResolver {
            inner: DefaultResolver::default(),
            policy,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Every address of `uri`'s host: the address itself, a recent answer, or a new lookup.
    fn addresses(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().unwrap_or_default();
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = format!("{host}:{port}");
        let lock = || self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, addrs)) = lock().get(&key)
            && at.elapsed() < RESOLVED_FOR
        {
            return Ok(addrs.clone());
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut cache = lock();
        if cache.len() >= RESOLVED_MAX {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), addrs.clone()));
        Ok(addrs)
    }
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.addresses(uri, config, timeout)?;
        let mut allowed = self.empty();
        let mut refused: Option<SocketAddr> = None;
        for addr in resolved.iter() {
            if self.policy.allows_ip(addr.ip()) {
                allowed.push(*addr);
            } else {
                refused.get_or_insert(*addr);
            }
        }
        if allowed.is_empty() {
            let host = uri.host().unwrap_or_default();
            let ip = refused.map_or("nothing".to_string(), |a| a.ip().to_string());
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{host} resolves to {ip}: not a public address (and not the site's own), \
                     refused"
                ),
            )));
        }
        Ok(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_internal_addresses() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_an_ipv4_address_are_judged_by_it() {
        let v4 = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let embedded = |s: &str| embedded_v4(s.parse().unwrap());
        for (form, inside) in [
            ("::ffff:169.254.169.254", "169.254.169.254"), // mapped
            ("::ffff:0:10.0.0.1", "10.0.0.1"),             // translated (SIIT)
            ("::127.0.0.2", "127.0.0.2"),                  // IPv4-compatible
            ("::a9fe:a9fe", "169.254.169.254"),            // the same, in hex
            ("64:ff9b::7f00:1", "127.0.0.1"),              // NAT64
            ("64:ff9b::10.1.2.3", "10.1.2.3"),             // NAT64, dotted
            ("2002:c0a8:101::1", "192.168.1.1"),           // 6to4
        ] {
            assert_eq!(embedded(form), [v4(inside)], "{form}");
            assert!(!is_public(form.parse().unwrap()), "{form}");
        }
        // Teredo: the server's address, and the client's stored inverted (here 127.0.0.1).
        let teredo = "2001:0:5ef5:79fb:0:f227:80ff:fffe";
        assert_eq!(embedded(teredo), [v4("94.245.121.251"), v4("127.0.0.1")]);
        assert!(
            !is_public(teredo.parse().unwrap()),
            "a Teredo client on loopback"
        );
        let public_teredo = "2001:0:5ef5:79fb:0:f227:f7f7:f7f7"; // client 8.8.8.8
        assert!(is_public(public_teredo.parse().unwrap()));
        // Public IPv4 inside is public; IPv6's own :: and ::1 stay what they are.
        for public in ["64:ff9b::808:808", "2002:808:808::1", "::8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(embedded("::1").is_empty() && embedded("::").is_empty());
        assert!(embedded("2606:4700::1111").is_empty());
        for internal in ["64:ff9b:1::a00:1", "2001:db8::1"] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
    }

    #[test]
    fn the_sites_own_address_is_allowed() {
        let policy = Policy::for_site("http://127.0.0.1:8080/top250?start=0", false);
        assert!(policy.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(policy.allows_ip("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!policy.allows_ip("127.0.0.2".parse().unwrap()));
        assert!(!policy.allows_ip("::127.0.0.2".parse().unwrap()));
        assert!(!policy.allows_ip("169.254.169.254".parse().unwrap()));
    }

    #[test]
    fn redirects_are_checked() {
        let policy = Policy::for_site("http://127.0.0.1:8080/top250", false);
        let ok = |s: &str| policy.check_redirect(&s.parse().unwrap());
        assert!(ok("http://127.0.0.1:8080/top250?start=25").is_ok());
        assert!(
            ok("HTTP://127.0.0.1:8080/x").is_ok(),
            "case does not matter"
        );
        assert!(ok("ftp://127.0.0.1/x").unwrap_err().contains("scheme ftp"));
        // Same site means the same scheme, host and port.
        for other in [
            "http://127.0.0.1:9999/other",
            "http://127.0.0.1/x",
            "https://127.0.0.1:8080/x",
            "http://localhost:8080/x",
            "http://example.com/",
        ] {
            let err = ok(other).unwrap_err();
            assert!(err.contains("redirect to another site"), "{other}: {err}");
        }
        assert!(
            ok("http://localhost:9/")
                .unwrap_err()
                .contains("(http://localhost:9, not http://127.0.0.1:8080)")
        );
        let named = Policy::for_site("https://Example.COM./top250", false);
        let ok = |s: &str| named.check_redirect(&s.parse().unwrap());
        assert!(ok("https://example.com:443/top250?start=25").is_ok());
        assert!(ok("http://example.com/top250").is_err(), "https to http");
        assert!(ok("https://example.com:8443/").is_err());
        let offsite = Policy::for_site("http://127.0.0.1:8080/top250", true);
        assert!(
            offsite
                .check_redirect(&"http://169.254.169.254/latest".parse().unwrap())
                .unwrap_err()
                .contains("not a public address")
        );
        assert!(
            offsite
                .check_redirect(&"http://93.184.216.34/".parse().unwrap())
                .is_ok()
        );
        // A request that began on another host (a listed CDN) may move within that host,
        // and nowhere else; and never to an address the guard refuses.
        let cdn: Uri = "http://cdn.example/a.jpg".parse().unwrap();
        let from = |to: &str| policy.check_redirect_from(&to.parse().unwrap(), Some(&cdn));
        assert!(from("http://cdn.example/b.jpg").is_ok());
        assert!(from("http://127.0.0.1:8080/x").is_ok(), "the site itself");
        assert!(
            from("http://other.example/b.jpg")
                .unwrap_err()
                .contains("another site")
        );
        assert!(from("https://cdn.example/b.jpg").is_err(), "another scheme");
        let private: Uri = "http://10.0.0.1/a.jpg".parse().unwrap();
        let err = policy
            .check_redirect_from(&"http://10.0.0.1/b.jpg".parse().unwrap(), Some(&private))
            .unwrap_err();
        assert!(err.contains("not a public address"), "{err}");
    }

    #[test]
    fn dns_answers_outside_the_policy_are_refused() {
        let timeout = NextTimeout {
            after: std::time::Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        let config = ureq::config::Config::default();
        let uri: Uri = "http://127.0.0.1:8080/x".parse().unwrap();
        // A crawl of a (private) intranet site must not be steered to loopback.
        let intranet = GuardedResolver::new(Arc::new(Policy::for_site("http://10.9.8.7/", false)));
        let err = intranet.resolve(&uri, &config, timeout).unwrap_err();
        assert!(err.to_string().contains("not a public address"), "{err}");
        // The site's own address resolves.
        let local = GuardedResolver::new(Arc::new(Policy::for_site("http://127.0.0.1:1/", false)));
        let addrs = local.resolve(&uri, &config, timeout).unwrap();
        assert_eq!(addrs[0], "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn locations_resolve_like_a_browser() {
        let base: Uri = "http://h:1/a/b?x=1".parse().unwrap();
        let r = |l: &str| resolve_location(&base, l).unwrap().to_string();
        assert_eq!(r("/c?d=2"), "http://h:1/c?d=2");
        assert_eq!(r("c"), "http://h:1/a/c");
        assert_eq!(r("//other/x"), "http://other/x");
        assert_eq!(r("https://z/"), "https://z/");
        let refused = resolve_location(&base, "file:///etc/passwd").unwrap_err();
        assert!(
            refused.contains("scheme file is not http or https"),
            "{refused}"
        );
        assert!(resolve_location(&base, "ftp://h/x").is_err());
    }
}
