//! `http.ca_file`: a PEM file of CA certificates, read and checked when the config is loaded,
//! so that a missing file, a private key or a damaged certificate is refused before a crawl
//! starts rather than at its first HTTPS request. The HTTP client adds them to the built-in
//! roots (`http/tls.rs`).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::{Serialize, Serializer};
use ureq::tls::PemItem;

use super::file::read_bounded;
use super::keys;

/// `http.ca_file`: the PEM file as named in the config, and the certificates read from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    /// The file, as the config names it.
    pub path: PathBuf,
    /// The certificates it holds (DER), in file order.
    certs: Vec<Vec<u8>>,
}

impl CaFile {
    /// Reads `path`: a regular file of at most the bound of [`keys::CA_FILE`] holding at least one
    /// PEM `CERTIFICATE` that parses as X.509. Errors name the key and the file.
    pub fn load(path: PathBuf) -> Result<CaFile> {
        let context = || format!("`http.ca_file` {}", path.display());
        let bytes = read_bounded(&path, keys::CA_FILE.bound().max, "`http.ca_file`")
            .with_context(context)?;
        let certs = parse_certs(&bytes).with_context(context)?;
        Ok(CaFile { path, certs })
    }

    /// The certificates it holds (DER), in file order.
    pub fn certs(&self) -> &[Vec<u8>] {
        &self.certs
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

impl TryFrom<PathBuf> for CaFile {
    type Error = String;

    fn try_from(path: PathBuf) -> Result<CaFile, String> {
        CaFile::load(path).map_err(|err| format!("{err:#}"))
    }
}

impl<'de> serde::Deserialize<'de> for CaFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CaFile, D::Error> {
        let path = PathBuf::deserialize(deserializer)?;
        CaFile::try_from(path).map_err(serde::de::Error::custom)
    }
}

impl Serialize for CaFile {
    /// As the config names it: the file's path.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.path.serialize(serializer)
    }
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
}
