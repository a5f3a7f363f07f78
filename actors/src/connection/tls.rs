//! TLS for outbound `wss`/`https` connections: rustls with the Mozilla root store, plus any
//! extra CA certificates the user trusts (a private CA or a self-signed business server).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Builds the client TLS config. `extra_ca_pem` is the content of PEM files whose
/// certificates are trusted in addition to the public roots.
pub fn client_config(extra_ca_pem: &[Vec<u8>]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in extra_ca_pem {
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
            roots.add(cert).map_err(|e| format!("certificate rejected: {e}"))?;
            found += 1;
        }
        if found == 0 {
            return Err("the file holds no PEM certificate".to_owned());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
