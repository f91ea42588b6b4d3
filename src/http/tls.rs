//! HTTPS: the roots the client trusts (Mozilla's, plus the certificates of `http.ca_file`),
//! and certificate errors told in words that say what failed.
//!
//! Verification cannot be turned off: a site with a private CA (an internal listing, an
//! inspecting proxy) is crawled by naming that CA in `http.ca_file`, which adds to the
//! built-in roots rather than replacing them. The file itself is read and checked with the
//! config ([`CaFile`]).

use std::sync::Arc;

use rustls::{CertificateError, Error as TlsError};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::config::CaFile;

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
            .certs()
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
