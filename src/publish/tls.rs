//! TLS for the publish endpoint: the node's self-signed identity (made at first start and
//! kept in the data directory), certificate fingerprints, and the two ways to trust a peer
//! without a public CA: pinning its fingerprint, or a CA file. Producers may also require
//! client certificates whose fingerprints they know.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use sha2::{Digest, Sha256};

use super::protocol::ALPN;

/// The name the node's self-signed certificate is made for (clients that pin a
/// fingerprint send it as the server name).
pub const SERVER_NAME: &str = "dawn-node";

/// SHA-256 of a certificate's DER encoding; text form: 64 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `cert`.
    pub fn of(cert: &[u8]) -> Self {
        Self(Sha256::digest(cert).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl FromStr for Fingerprint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let clean: String = s.chars().filter(|c| *c != ':').collect();
        let bytes = hex::decode(clean.trim_start_matches("sha256/"))
            .map_err(|_| format!("{s:?} is not a SHA-256 fingerprint (64 hex digits)"))?;
        let arr: [u8; 32] =
            bytes.try_into().map_err(|_| format!("{s:?} is not a SHA-256 fingerprint (64 hex digits)"))?;
        Ok(Self(arr))
    }
}

/// A certificate and its private key.
#[derive(Clone)]
pub struct Identity {
    /// The certificate (DER).
    pub cert: CertificateDer<'static>,
    /// The PKCS#8 private key (DER).
    key: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

/// TLS set-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A certificate could not be made.
    #[error("making a certificate: {0}")]
    Generate(String),
    /// A certificate or key file does not parse.
    #[error("{path}: {detail}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io { path: path.to_path_buf(), source }
}

impl Identity {
    /// A new self-signed identity for `names`.
    pub fn generate(names: &[&str]) -> Result<Self, TlsError> {
        let ck = rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        Ok(Self { cert: ck.cert.der().clone(), key: ck.key_pair.serialize_der() })
    }

    /// Loads the identity kept in `dir` (`cert.der`, `key.der`), making and storing a
    /// self-signed one at first use. The key file is written with mode 0600, both files
    /// through a temporary file and a rename, so a crash leaves the old pair or the new.
    pub fn load_or_create(dir: &Path, names: &[&str]) -> Result<Self, TlsError> {
        let (cert_path, key_path) = (dir.join("cert.der"), dir.join("key.der"));
        if cert_path.exists() && key_path.exists() {
            let cert = std::fs::read(&cert_path).map_err(io(&cert_path))?;
            let key = std::fs::read(&key_path).map_err(io(&key_path))?;
            let id = Self { cert: CertificateDer::from(cert), key };
            id.rustls_key().map_err(|e| TlsError::BadFile { path: key_path.clone(), detail: e })?;
            return Ok(id);
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let id = Self::generate(names)?;
        write_atomically(&key_path, &id.key, 0o600)?;
        write_atomically(&cert_path, &id.cert, 0o644)?;
        Ok(id)
    }

    /// Reads a PEM certificate (the first in the file) and a PEM PKCS#8 key.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let c = CertificateDer::from_pem_file(cert)
            .map_err(|e| TlsError::BadFile { path: cert.to_path_buf(), detail: e.to_string() })?;
        let k = PrivatePkcs8KeyDer::from_pem_file(key)
            .map_err(|e| TlsError::BadFile { path: key.to_path_buf(), detail: e.to_string() })?;
        Ok(Self { cert: c, key: k.secret_pkcs8_der().to_vec() })
    }

    /// The certificate's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert)
    }

    fn rustls_key(&self) -> Result<PrivateKeyDer<'static>, String> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()));
        provider().key_provider.load_private_key(key.clone_key()).map_err(|e| e.to_string())?;
        Ok(key)
    }
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// The crypto provider (ring) every config here uses: built once, shared (the handshake
/// signature checks below ask for it on every handshake).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: std::sync::LazyLock<Arc<CryptoProvider>> =
        std::sync::LazyLock::new(|| Arc::new(rustls::crypto::ring::default_provider()));
    PROVIDER.clone()
}

/// Which clients the server accepts.
#[derive(Debug, Clone, Default)]
pub enum ClientAuth {
    /// Anyone (no client certificate asked for).
    #[default]
    Anyone,
    /// Only clients presenting a certificate with one of these fingerprints.
    Known(Vec<Fingerprint>),
}

/// The server's TLS configuration.
pub fn server_config(id: &Identity, clients: &ClientAuth) -> Result<rustls::ServerConfig, TlsError> {
    let cfg = |e: rustls::Error| TlsError::Config(e.to_string());
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(cfg)?;
    let builder = match clients {
        ClientAuth::Anyone => builder.with_no_client_auth(),
        ClientAuth::Known(fps) => builder.with_client_cert_verifier(Arc::new(KnownClients(fps.clone()))),
    };
    let key = id.rustls_key().map_err(TlsError::Config)?;
    let mut c = builder.with_single_cert(vec![id.cert.clone()], key).map_err(cfg)?;
    c.alpn_protocols = vec![ALPN.to_vec()];
    Ok(c)
}

/// How a client decides to trust the server.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The server's certificate has this fingerprint (what `dawn dev` and get_info print).
    Pinned(Fingerprint),
    /// The server's certificate chains to a CA in this PEM file and names the server.
    CaFile(PathBuf),
}

/// The client's TLS configuration; `identity` is presented to servers that ask.
pub fn client_config(trust: &Trust, identity: Option<&Identity>) -> Result<rustls::ClientConfig, TlsError> {
    let cfg = |e: rustls::Error| TlsError::Config(e.to_string());
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(cfg)?;
    let builder = match trust {
        Trust::Pinned(fp) => {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(PinnedServer(*fp)))
        }
        Trust::CaFile(path) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| TlsError::BadFile { path: path.clone(), detail: e.to_string() })?;
            for c in certs {
                let c = c.map_err(|e| TlsError::BadFile { path: path.clone(), detail: e.to_string() })?;
                roots.add(c).map_err(|e| TlsError::BadFile { path: path.clone(), detail: e.to_string() })?;
            }
            if roots.is_empty() {
                return Err(TlsError::BadFile { path: path.clone(), detail: "no certificate in it".into() });
            }
            builder.with_root_certificates(roots)
        }
    };
    let mut c = match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.cert.clone()], id.rustls_key().map_err(TlsError::Config)?)
            .map_err(cfg)?,
        None => builder.with_no_client_auth(),
    };
    c.alpn_protocols = vec![ALPN.to_vec()];
    Ok(c)
}

/// The handshake signature checks both verifiers share: the certificate's own key must
/// have signed the handshake, whatever the trust decision.
fn verify12(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls12_signature(message, cert, dss, &provider().signature_verification_algorithms)
}

fn verify13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    verify_tls13_signature(message, cert, dss, &provider().signature_verification_algorithms)
}

fn schemes() -> Vec<SignatureScheme> {
    provider().signature_verification_algorithms.supported_schemes()
}

/// Trusts exactly one certificate, by fingerprint; the handshake signature is still
/// checked against that certificate's key.
#[derive(Debug)]
struct PinnedServer(Fingerprint);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if got == self.0 {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate has fingerprint {got}, not the pinned {}",
                self.0
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes()
    }
}

/// Accepts only client certificates with known fingerprints.
#[derive(Debug)]
struct KnownClients(Vec<Fingerprint>);

impl ClientCertVerifier for KnownClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if self.0.contains(&got) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!("client certificate {got} is not among the known clients")))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path(), &[SERVER_NAME]).unwrap();
        let b = Identity::load_or_create(dir.path(), &[SERVER_NAME]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let text = a.fingerprint().to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text.parse::<Fingerprint>().unwrap(), a.fingerprint());
        assert!("abc".parse::<Fingerprint>().is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key.der")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join("key.der"), b"junk").unwrap();
        assert!(matches!(
            Identity::load_or_create(dir.path(), &[SERVER_NAME]),
            Err(TlsError::BadFile { .. })
        ));
    }
}
