//! Where a crawl may go: the address guard (SSRF) and the redirect policy.
//!
//! A crawl configured for a public site must not be steered by a redirect or a DNS answer to
//! loopback, private, link-local (cloud metadata at 169.254.169.254) or unspecified addresses.
//! The configured site's own addresses are always allowed, so crawling a local or intranet site
//! works. The guard sits in the DNS resolver the HTTP agent uses, so it holds for every
//! connection; redirects are also checked before they are followed. This module decides; it
//! neither fetches nor logs.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Whether an address is reachable from the public internet (and so safe to be sent to).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                    || (first & 0xffc0) == 0xfe80) // link-local fe80::/10
            }
        },
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
    /// The configured site's host, as written in `site.url`.
    site_host: String,
    /// The configured site's own addresses, allowed even when not public.
    site_addrs: Vec<IpAddr>,
    /// `http.follow_offsite_redirects`.
    follow_offsite: bool,
}

impl Policy {
    /// Rules for a crawl of `site_url` (any rendered page URL). Resolves its host once, so that a
    /// site on a private address keeps working; a host that does not resolve now allows nothing
    /// non-public.
    pub fn for_site(site_url: &str, follow_offsite: bool) -> Policy {
        let uri: Option<Uri> = site_url.parse().ok();
        let site_host = uri
            .as_ref()
            .and_then(Uri::host)
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.as_ref().and_then(Uri::port_u16).unwrap_or(80);
        let site_addrs = match site_host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => (site_host.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .unwrap_or_default(),
        };
        Policy {
            site_host,
            site_addrs,
            follow_offsite,
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.site_addrs.contains(&ip)
    }

    /// Checks a redirect target before it is followed; `Err` says why it is refused.
    pub fn check_redirect(&self, to: &Uri) -> Result<(), String> {
        match to.scheme_str() {
            Some("http" | "https") => {}
            other => {
                return Err(format!(
                    "redirect to {to} refused: scheme {} is not http or https",
                    other.unwrap_or("(none)")
                ));
            }
        }
        let host = to
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host != self.site_host && !self.follow_offsite {
            return Err(format!(
                "redirect to another host ({host}) refused; set http.follow_offsite_redirects = \
                 true to follow it"
            ));
        }
        if let Ok(ip) = host.parse::<IpAddr>()
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

/// The agent's DNS resolver: the default one, minus every address the policy refuses.
#[derive(Debug)]
pub struct GuardedResolver {
    /// The system resolver.
    inner: DefaultResolver,
    /// The rules.
    policy: Arc<Policy>,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<Policy>) -> GuardedResolver {
        GuardedResolver {
            inner: DefaultResolver::default(),
            policy,
        }
    }
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let resolved = self.inner.resolve(uri, config, timeout)?;
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
    fn the_sites_own_address_is_allowed() {
        let policy = Policy::for_site("http://127.0.0.1:8080/top250?start=0", false);
        assert!(policy.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(!policy.allows_ip("127.0.0.2".parse().unwrap()));
        assert!(!policy.allows_ip("169.254.169.254".parse().unwrap()));
    }

    #[test]
    fn redirects_are_checked() {
        let policy = Policy::for_site("http://127.0.0.1:8080/top250", false);
        let ok = |s: &str| policy.check_redirect(&s.parse().unwrap());
        assert!(ok("http://127.0.0.1:8080/top250?start=25").is_ok());
        assert!(
            ok("http://127.0.0.1:9999/other").is_ok(),
            "same host, other port"
        );
        assert!(ok("ftp://127.0.0.1/x").unwrap_err().contains("scheme ftp"));
        assert!(
            ok("http://example.com/")
                .unwrap_err()
                .contains("another host")
        );
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
