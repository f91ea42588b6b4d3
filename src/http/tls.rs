//! HTTPS: the roots the client trusts (Mozilla's, plus the certificates of `http.ca_file`),
//! and certificate errors told in words that say what failed.
//!
//! Verification cannot be turned off: a site with a private CA (an internal listing, an
//! inspecting proxy) is crawled by naming that CA in `http.ca_file`, which adds to the
//! built-in roots rather than replacing them.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::{CertificateError, Error as TlsError};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::limits;

/// `http.ca_file`: the PEM file as named in the config, and the certificates read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// The file, as the config names it.
    pub path: PathBuf,
    /// The certificates it holds (DER), in file order.
    certs: Vec<Vec<u8>>,
}

impl CaFile {
    /// Reads `path`: a regular file of at most [`limits::CA_FILE_BYTES`] holding at least one
    /// PEM `CERTIFICATE` that parses as X.509. Errors name the key and the file.
    pub fn load(path: PathBuf) -> Result<CaFile> {
        let context = || format!("`http.ca_file` {}", path.display());
        let bytes = limits::read_bounded(&path, limits::CA_FILE_BYTES.max, "`http.ca_file`")
            .with_context(context)?;
        let certs = parse_certs(&bytes).with_context(context)?;
        Ok(CaFile { path, certs })
    }

    /// How many certificates the file holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether it holds none (never, once loaded).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The X.509 certificates of a PEM bundle; private keys and other sections are refused, since a
/// key in a trust file is a mistake worth telling.
fn parse_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.context("not a PEM file")? {
            PemItem::Certificate(cert) => {
                let der = cert.der().to_vec();
                // rustls accepts what webpki can use as a trust anchor; check it here, at load,
                // rather than have it silently ignored at the first request.
                let anchor = rustls::pki_types::CertificateDer::from(der.as_slice());
                webpki_anchor(&anchor).with_context(|| {
                    format!(
                        "certificate {} is not a usable X.509 certificate",
                        certs.len() + 1
                    )
                })?;
                certs.push(der);
            }
            PemItem::PrivateKey(_) => bail!(
                "it holds a private key: `http.ca_file` takes only the CA's certificates \
                 (-----BEGIN CERTIFICATE-----); keep the key elsewhere"
            ),
            _ => {}
        }
    }
    if certs.is_empty() {
        bail!("no certificate in it: expected PEM blocks `-----BEGIN CERTIFICATE-----`");
    }
    Ok(certs)
}

/// Whether `der` can be a trust anchor.
fn webpki_anchor(der: &rustls::pki_types::CertificateDer<'_>) -> Result<()> {
    let mut store = rustls::RootCertStore::empty();
    store
        .add(der.clone().into_owned())
        .map_err(|err| anyhow::anyhow!("{err}"))
}

/// The client's TLS settings: Mozilla's roots (as ureq's default), plus `ca_file`'s.
pub(crate) fn tls_config(ca_file: Option<&CaFile>) -> TlsConfig {
    let builder = TlsConfig::builder();
    let Some(ca_file) = ca_file else {
        return builder.build();
    };
    let mut roots: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|der| Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    roots.extend(
        ca_file
            .certs
            .iter()
            .map(|der| Certificate::from_der(der).to_owned()),
    );
    builder
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build()
}

/// What a TLS failure in `err` means, in words that say what failed, or `None` if `err` is no
/// certificate error. ureq reports a failed handshake as an I/O error wrapping rustls' error.
pub(crate) fn describe(err: &ureq::Error) -> Option<String> {
    let tls = match err {
        ureq::Error::Rustls(tls) => tls,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<TlsError>()?,
        _ => return None,
    };
    Some(describe_tls(tls))
}

/// [`describe`] for rustls' own error.
fn describe_tls(err: &TlsError) -> String {
    let TlsError::InvalidCertificate(cert) = err else {
        return format!("TLS handshake failed: {err}");
    };
    let what = match cert {
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired"
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet (or this machine's clock is wrong)"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "the server's certificate is not valid for this host name (wrong name)"
        }
        CertificateError::UnknownIssuer => {
            "the server's certificate has an unknown issuer: no trusted root signed it \
             (a private CA or an inspecting proxy? name its certificate in `http.ca_file`)"
        }
        CertificateError::Revoked => "the server's certificate is revoked",
        CertificateError::BadSignature | CertificateError::BadEncoding => {
            "the server's certificate is malformed or badly signed"
        }
        _ => "the server's certificate was refused",
    };
    format!("{what} ({err})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_refused_naming_the_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = format!("{:#}", CaFile::load(missing.clone()).unwrap_err());
        assert!(err.contains("`http.ca_file`"), "{err}");
        assert!(err.contains("missing.pem"), "{err}");
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "hello, not a certificate\n").unwrap();
        let err = format!("{:#}", CaFile::load(text).unwrap_err());
        assert!(
            err.contains("text.pem") && err.contains("no certificate"),
            "{err}"
        );
        let junk = dir.path().join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = format!("{:#}", CaFile::load(junk).unwrap_err());
        assert!(
            err.contains("junk.pem") && err.contains("certificate 1"),
            "{err}"
        );
        let err = format!("{:#}", CaFile::load(dir.path().to_path_buf()).unwrap_err());
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn certificate_errors_in_words() {
        let expired = TlsError::InvalidCertificate(CertificateError::Expired);
        assert!(describe_tls(&expired).contains("expired"));
        let name = TlsError::InvalidCertificate(CertificateError::NotValidForName);
        assert!(describe_tls(&name).contains("wrong name"));
        let issuer = TlsError::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(describe_tls(&issuer).contains("unknown issuer"));
        let io = std::io::Error::other(issuer);
        assert!(
            describe(&ureq::Error::Io(io))
                .unwrap()
                .contains("unknown issuer")
        );
        assert_eq!(describe(&ureq::Error::ConnectionFailed), None);
    }
}
