//! TLS for HTTPS downloads (cargo feature `tls`, on by default). The C httpDownload plugin knew
//! only `http://`; today's droppers often serve `https://`.
//!
//! Certificates are deliberately not verified: we collect samples from hostile servers and
//! trust nothing they send, so a chain to a public root would prove nothing useful and
//! would lose the self-signed and expired servers malware is often served from. The
//! handshake signatures are still checked (the server must hold the key of the certificate
//! it shows), so the TLS layer itself stays sound. rustls with the *ring* provider does the
//! protocol; nothing here parses TLS.

use crate::pipeline::download::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// Accepts any server certificate; verifies handshake signatures with the provider.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client configuration, built once per process.
fn config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AnyCertificate { algorithms: provider.signature_verification_algorithms });
            let config = ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
        .map_err(|e| Error::Protocol(format!("TLS set-up: {}", e)))
}

/// The name the handshake presents: SNI is sent for host names only, an address literal
/// (or a name rustls does not accept as a DNS name) goes as the server's address.
fn server_name(host: &str, addr: IpAddr) -> ServerName<'static> {
    match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string()).unwrap_or(ServerName::IpAddress(addr.into())),
    }
}

/// Runs the TLS handshake over `sock` (whose reads and writes are bounded by the download's
/// deadline) and returns the encrypted stream.
pub fn connect<S: Read + Write>(
    mut sock: S,
    host: &str,
    addr: IpAddr,
) -> Result<StreamOwned<ClientConnection, S>, Error> {
    let mut conn = ClientConnection::new(config()?, server_name(host, addr))
        .map_err(|e| Error::Protocol(format!("TLS: {}", e)))?;
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) => return Err(closed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(closed()),
            Err(e) => return Err(tls_error(e)),
        }
    }
    Ok(StreamOwned::new(conn, sock))
}

fn closed() -> Error {
    Error::Protocol("TLS: connection closed during the handshake".into())
}

/// A TLS failure (rustls reports them as `InvalidData`) as a protocol error; time-outs and
/// other I/O errors as they are.
pub fn tls_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::InvalidData {
        Error::Protocol(format!("TLS: {}", e))
    } else {
        Error::from(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_only_for_names() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(matches!(server_name("example.com", a), ServerName::DnsName(_)));
        assert!(matches!(server_name("192.0.2.7", a), ServerName::IpAddress(_)));
        assert!(matches!(server_name("2001:db8::1", a), ServerName::IpAddress(_)));
        // Not a valid DNS name for rustls: no SNI, the connection's address instead.
        assert!(matches!(server_name("a..b", a), ServerName::IpAddress(_)));
    }

    #[test]
    fn config_builds_with_signature_checks() {
        let c = config().unwrap();
        assert!(!c.crypto_provider().signature_verification_algorithms.supported_schemes().is_empty());
    }

    #[test]
    fn handshake_with_a_silent_peer_fails_cleanly() {
        // A "server" that closes at once: no panic, a protocol error.
        let sock = std::io::Cursor::new(Vec::new());
        struct Rw(std::io::Cursor<Vec<u8>>);
        impl Read for Rw {
            fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
                self.0.read(b)
            }
        }
        impl Write for Rw {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let r = connect(Rw(sock), "example.com", "10.0.0.1".parse().unwrap());
        assert!(matches!(r, Err(Error::Protocol(_))), "{:?}", r.err());
    }
}
