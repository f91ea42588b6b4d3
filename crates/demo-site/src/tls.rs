//! HTTPS for the demo site (feature `tls`, for tests): a private CA made at start with rcgen,
//! server certificates it signs (for the right name, a wrong one, or already expired), and the
//! rustls acceptor the HTTPS server uses.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::options::TlsIdentity;

/// A certificate authority of its own, made fresh for each test: nothing outside trusts it.
pub struct TestCa {
    /// Its certificate, in PEM: what a crawler's `ca_file` names to trust it.
    ca_pem: String,
    /// Signs server certificates.
    issuer: Issuer<'static, KeyPair>,
}

/// How a server certificate is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Valid now (from 1975 to 4096, rcgen's defaults).
    Current,
    /// Valid only in the year 2000: expired.
    Expired,
}

impl TestCa {
    /// A new CA named "pagecrawl test CA".
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to check");
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "pagecrawl test CA");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("an ECDSA key");
        let cert = params.self_signed(&key).expect("a self-signed CA");
        TestCa {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA's certificate, in PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server certificate for `names` (DNS names or IP addresses), signed by this CA, with
    /// its chain and key.
    pub fn identity(&self, names: &[&str], validity: Validity) -> TlsIdentity {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("valid names");
        if validity == Validity::Expired {
            params.not_before = date_time_ymd(2000, 1, 1);
            params.not_after = date_time_ymd(2000, 12, 31);
        }
        let key = KeyPair::generate().expect("an ECDSA key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("a signed certificate");
        TlsIdentity {
            chain_pem: format!("{}{}", cert.pem(), self.ca_pem),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// The acceptor of the HTTPS server: rustls with ring, TLS 1.2 and 1.3, no client certificates.
pub(crate) fn acceptor(identity: &TlsIdentity) -> io::Result<TlsAcceptor> {
    let bad = |what: &str, err: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("demo site TLS {what}: {err}"),
        )
    };
    let chain = CertificateDer::pem_slice_iter(identity.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| bad("certificate", &err))?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .map_err(|err| bad("key", &err))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| bad("versions", &err))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| bad("certificate", &err))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
