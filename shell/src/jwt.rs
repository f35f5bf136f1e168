//! Engine API authentication: HS256 JWTs with an `iat` claim, from a 32-byte hex secret file (op-node / kona format).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::{Path, PathBuf};

/// Allowed clock difference between token issuer and verifier (Engine API spec: ±60 s).
pub const MAX_IAT_DRIFT_S: u64 = 60;
/// The default secret file, as kona-node uses when none is given.
pub const DEFAULT_SECRET_FILE: &str = "jwt.hex";

/// Problems with secrets and tokens.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The secret is not 32 bytes of hex.
    #[error("JWT secret must be 32 bytes as 64 hex characters (optionally 0x-prefixed), got {0} characters")]
    BadSecretLength(usize),
    /// Non-hex characters.
    #[error("JWT secret is not valid hex: {0}")]
    BadSecretHex(String),
    /// File trouble.
    #[error("JWT secret file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// No randomness available to create a secret.
    #[error("cannot generate a JWT secret: {0}")]
    Random(String),
    /// The token is not `header.claims.signature`, or a part does not decode.
    #[error("malformed JWT: {0}")]
    Malformed(String),
    /// Header algorithm other than HS256.
    #[error("JWT algorithm must be HS256")]
    Algorithm,
    /// Signature mismatch (wrong secret).
    #[error("JWT signature does not match the secret")]
    Signature,
    /// `iat` too far from now.
    #[error("JWT iat {iat} is more than {MAX_IAT_DRIFT_S} s away from now ({now})")]
    Stale {
        /// The token's issue time.
        iat: u64,
        /// Verifier's time.
        now: u64,
    },
}

/// A 32-byte shared secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; 32]);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(..)")
    }
}

impl JwtSecret {
    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses 64 hex characters, optionally `0x`-prefixed, surrounding whitespace ignored.
    pub fn from_hex(s: &str) -> Result<Self, JwtError> {
        let s = s.trim();
        let s = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
        if s.len() != 64 {
            return Err(JwtError::BadSecretLength(s.len()));
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).map_err(|e| JwtError::BadSecretHex(e.to_string()))?;
            out[i] = u8::from_str_radix(pair, 16).map_err(|_| JwtError::BadSecretHex(format!("{pair:?}")))?;
        }
        Ok(Self(out))
    }

    /// A fresh random secret.
    pub fn random() -> Result<Self, JwtError> {
        let mut out = [0u8; 32];
        getrandom::fill(&mut out).map_err(|e| JwtError::Random(e.to_string()))?;
        Ok(Self(out))
    }

    /// Lowercase hex, no prefix (the file format).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads the secret at `path`, or at `<dir>/jwt.hex` when `None`; if that default file does not exist, creates
    /// it with a random secret and mode 0600. Returns the secret, the file used, and whether it was created.
    pub fn load_or_create(path: Option<&Path>, dir: &Path) -> Result<(Self, PathBuf, bool), JwtError> {
        let io = |path: &Path, source| JwtError::Io { path: path.to_path_buf(), source };
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| io(p, e))?;
                Ok((Self::from_hex(&text)?, p.to_path_buf(), false))
            }
            None => {
                let p = dir.join(DEFAULT_SECRET_FILE);
                match std::fs::read_to_string(&p) {
                    Ok(text) => Ok((Self::from_hex(&text)?, p, false)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        let secret = Self::random()?;
                        write_private(&p, &secret.to_hex()).map_err(|e| io(&p, e))?;
                        Ok((secret, p, true))
                    }
                    Err(e) => Err(io(&p, e)),
                }
            }
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }

    /// A token issued at `iat` (seconds since the epoch).
    pub fn token(&self, iat: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat}}}"#));
        let signing_input = format!("{header}.{claims}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// Verifies a token as an engine would: HS256, signature, `iat` within ±60 s of `now`.
    pub fn validate(&self, token: &str, now: u64) -> Result<(), JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed("expected three dot-separated parts".into()));
        };
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|e| JwtError::Malformed(e.to_string()));
        let header: serde_json::Value =
            serde_json::from_slice(&decode(h)?).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        let mut mac = self.mac();
        mac.update(format!("{h}.{c}").as_bytes());
        mac.verify_slice(&decode(s)?).map_err(|_| JwtError::Signature)?;
        let claims: serde_json::Value =
            serde_json::from_slice(&decode(c)?).map_err(|e| JwtError::Malformed(e.to_string()))?;
        let iat = claims.get("iat").and_then(|v| v.as_u64()).ok_or_else(|| JwtError::Malformed("no iat".into()))?;
        if iat.abs_diff(now) > MAX_IAT_DRIFT_S {
            return Err(JwtError::Stale { iat, now });
        }
        Ok(())
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_secrets() {
        let hex = "ab".repeat(32);
        assert_eq!(JwtSecret::from_hex(&hex).unwrap().to_hex(), hex);
        assert_eq!(JwtSecret::from_hex(&format!("0x{hex}\n")).unwrap().to_hex(), hex);
        assert!(matches!(JwtSecret::from_hex("abcd"), Err(JwtError::BadSecretLength(4))));
        assert!(matches!(JwtSecret::from_hex(&"zz".repeat(32)), Err(JwtError::BadSecretHex(_))));
    }

    #[test]
    fn tokens_round_trip_and_reject_wrong_secret_and_stale_iat() {
        let s = JwtSecret::new([7; 32]);
        let t = s.token(1_000);
        assert!(s.validate(&t, 1_030).is_ok());
        assert!(s.validate(&t, 1_060).is_ok());
        assert!(matches!(s.validate(&t, 1_061), Err(JwtError::Stale { .. })));
        assert!(matches!(JwtSecret::new([8; 32]).validate(&t, 1_000), Err(JwtError::Signature)));
        assert!(matches!(s.validate("a.b", 1_000), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn known_token_vector() {
        // HS256 of header {"alg":"HS256","typ":"JWT"} and claims {"iat":1700000000} with a zero key, computed
        // independently (Python: hmac.new(b"\0"*32, msg, sha256)).
        let t = JwtSecret::new([0; 32]).token(1_700_000_000);
        assert_eq!(
            t,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDB9.AV0neG6Q-D2P_lDW7gragYW8jJ_BPpKgG5A6auv-Ef4"
        );
    }

    #[test]
    fn creates_default_secret_file_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("keel-jwt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, path, created) = JwtSecret::load_or_create(None, &dir).unwrap();
        let (b, _, created_again) = JwtSecret::load_or_create(None, &dir).unwrap();
        assert!(created && !created_again);
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
