//! TLS to the server, with libpq's `sslmode` meanings, so a URL that works
//! with `psql` works here:
//!
//! - `disable`: plain TCP;
//! - `prefer` (the default): TLS when the server offers it, else plain;
//!   the server's certificate is not checked (as libpq);
//! - `require`: TLS or no connection; the certificate is not checked;
//! - `verify-ca`: TLS, with a certificate signed by a trusted authority;
//! - `verify-full`: that, and issued for the host the URL names.
//!
//! The trusted authorities are `sslrootcert=FILE` (PEM) when the URL gives
//! one, else the system's. rustls with the `ring` provider: no OpenSSL to
//! link or install.

use std::path::PathBuf;
use std::sync::Arc;

use postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// How certificates are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Not at all (`disable`, `prefer`, `require`).
    Nothing,
    /// The chain to a trusted authority (`verify-ca`).
    Authority,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A URL's connection settings, and how its TLS is checked.
#[derive(Clone)]
pub struct Settings {
    pub config: postgres::Config,
    pub verify: Verify,
    pub root_cert: Option<PathBuf>,
}

/// Settings without a URL: TLS where the server offers it, not checked (libpq's `prefer`).
impl From<postgres::Config> for Settings {
    fn from(config: postgres::Config) -> Settings {
        Settings { config, verify: Verify::Nothing, root_cert: None }
    }
}

impl Settings {
    /// A connection with these settings, its TLS as they say.
    pub fn connect(&self) -> Result<postgres::Client, ConnectError> {
        let tls = connector(self).map_err(ConnectError::Setup)?;
        self.config.connect(tls).map_err(ConnectError::Server)
    }
}

/// Why a connection was not made.
#[derive(Debug)]
pub enum ConnectError {
    /// TLS could not be set up from the URL (a root certificate file, say).
    Setup(Error),
    /// The server could not be reached or refused.
    Server(postgres::Error),
}

const HOW: &str = "write it as postgres://USER@HOST:PORT/DATABASE (or postgres://USER:PASSWORD@HOST:PORT/DATABASE), \
                   with ?sslmode=disable|prefer|require|verify-ca|verify-full and sslrootcert=FILE if needed";

/// Read a `postgres://` URL; `sslmode` and `sslrootcert` are taken out here
/// (the `postgres` crate knows only disable, prefer and require).
pub fn settings(url: &str) -> Result<Settings> {
    let bad = |why: String| Error::Usage(format!("cannot read the PostgreSQL URL ({why}): {HOW}"));
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root_cert = None;
    for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => mode = Some(value.to_string()),
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    let mut config = rest.parse::<postgres::Config>().map_err(|e| bad(e.to_string()))?;
    let (ssl, verify) = match mode.as_deref() {
        None | Some("prefer") => (SslMode::Prefer, Verify::Nothing),
        Some("disable") => (SslMode::Disable, Verify::Nothing),
        Some("require") => (SslMode::Require, Verify::Nothing),
        Some("verify-ca") => (SslMode::Require, Verify::Authority),
        Some("verify-full") => (SslMode::Require, Verify::Full),
        Some(other) => {
            return Err(bad(format!("sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full")));
        }
    };
    config.ssl_mode(ssl);
    Ok(Settings { config, verify, root_cert })
}

/// The TLS connector for these settings.
pub fn connector(settings: &Settings) -> Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS cannot be set up: {e}")))?;
    let config = match settings.verify {
        Verify::Nothing => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(Unchecked(provider))).with_no_client_auth()
        }
        Verify::Authority | Verify::Full => {
            let roots = Arc::new(roots(settings.root_cert.as_deref())?);
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| Error::Usage(format!("TLS cannot be set up: {e}")))?;
            if settings.verify == Verify::Full {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(webpki))).with_no_client_auth()
            }
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The authorities trusted: the file's, else the system's.
fn roots(file: Option<&std::path::Path>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::Usage(format!("sslrootcert={}: cannot read a PEM certificate from it ({e})", path.display()))
                })?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::Usage(format!("sslrootcert={}: no certificate in it", path.display())));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(Error::Usage(
                    "no trusted certificate authorities on this system to verify the server with: install them \
                     (ca-certificates), or name the server's with sslrootcert=FILE"
                        .into(),
                ));
            }
        }
    }
    Ok(store)
}

/// libpq's `prefer` and `require`: encrypted, the certificate not checked
/// (the handshake's signatures still are).
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_takes_libpqs_five_values_and_verify_modes_require_tls() {
        let s = settings("postgres://u@h:5/db?sslmode=verify-full&sslrootcert=/x/ca.pem&connect_timeout=3").unwrap();
        assert_eq!(s.verify, Verify::Full);
        assert_eq!(s.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(s.root_cert, Some(PathBuf::from("/x/ca.pem")));
        assert_eq!(s.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(3)));
        assert_eq!(settings("postgres://u@h/db?sslmode=verify-ca").unwrap().verify, Verify::Authority);
        assert_eq!(settings("postgres://u@h/db").unwrap().config.get_ssl_mode(), SslMode::Prefer);
        assert_eq!(settings("postgres://u@h/db?sslmode=disable").unwrap().config.get_ssl_mode(), SslMode::Disable);
        let Err(Error::Usage(e)) = settings("postgres://u@h/db?sslmode=verify") else { panic!("accepted") };
        assert!(e.contains("sslmode=verify is not one of"), "{e}");
    }

    #[test]
    fn a_root_certificate_file_without_a_certificate_is_refused_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let s = settings(&format!("postgres://u@h/db?sslmode=verify-full&sslrootcert={}", file.display())).unwrap();
        let Err(Error::Usage(e)) = connector(&s) else { panic!("accepted") };
        assert!(e.contains("ca.pem") && e.contains("no certificate"), "{e}");
    }
}
