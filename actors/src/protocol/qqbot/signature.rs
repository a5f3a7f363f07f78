//! Webhook signatures: ed25519 over `timestamp || body`, the key's seed being the app secret
//! repeated until it is 32 bytes long (the platform's rule). The same key signs the answer to
//! op 13 (`event_ts || plain_token`).

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};

/// The signing key of an app secret. `None` for an empty secret (nothing to sign with).
pub fn key_of(secret: &str) -> Option<SigningKey> {
    if secret.is_empty() {
        return None;
    }
    let seed: Vec<u8> = secret.bytes().cycle().take(32).collect();
    let seed: [u8; 32] = seed.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// The hex signature of `timestamp || body`.
pub fn sign(key: &SigningKey, timestamp: &[u8], body: &[u8]) -> String {
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp);
    message.extend_from_slice(body);
    hex::encode(key.sign(&message).to_bytes())
}

/// Whether `signature_hex` is `key`'s signature of `timestamp || body`.
pub fn verify(key: &SigningKey, timestamp: &[u8], body: &[u8], signature_hex: &str) -> bool {
    let Ok(bytes) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
        return false;
    };
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp);
    message.extend_from_slice(body);
    key.verifying_key().verify(&message, &Signature::from_bytes(&bytes)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_validation_vector_of_the_platform_docs() {
        let key = key_of("DG5g3B4j9X2KOErG").expect("key");
        let signature = sign(&key, b"1725442341", b"Arq0D5A61EgUu4OxUvOp");
        assert!(signature.starts_with("87befc99"), "{signature}");
        assert!(signature.ends_with("c706"), "{signature}");
        assert!(verify(&key, b"1725442341", b"Arq0D5A61EgUu4OxUvOp", &signature));
    }

    #[test]
    fn the_dispatch_vector_of_botgo() {
        let key = key_of("123456abcdef").expect("key");
        let body = r#"{"id":"ROBOT1.0_veoihSEXDc8Q.g-6eLpNIa11bH8MisOjn-m-LKxCPntMk6exUXgcWCGpVO7L2QKTNZzjZzFFDSbiOFcqAPWyVA!!","content":"哦一下","timestamp":"2024-10-15T16:33:15+08:00","author":{"id":"675860273","user_openid":"675860273"}}"#;
        let published = "e949b5b94ef4103df903fb031d1d16e358db3db83e79e117edd404c8508be3ce8a76d7bad1bed353194c126a1a5915b4ad8b5288c1191cc53a12acffccd82004";
        assert!(verify(&key, b"1728981195", body.as_bytes(), published));
        assert_eq!(sign(&key, b"1728981195", body.as_bytes()), published);
        assert!(!verify(&key, b"1728981196", body.as_bytes(), published), "timestamp is signed");
        assert!(!verify(&key, b"1728981195", b"{}", published), "body is signed");
        assert!(!verify(&key, b"1728981195", body.as_bytes(), "zz"), "not hex");
        assert!(key_of("").is_none());
    }
}
