//! frp's stream cipher (frp-protocol.md §4): AES-128-CFB (full 128-bit feedback) over a byte
//! stream, key = PBKDF2-HMAC-SHA1(auth.token, salt "frp", 64 rounds, 16 bytes), one random IV per
//! direction sent in clear before the first ciphertext byte. No MAC, no padding.
//!
//! Used on the control stream after Login/LoginResp, and on work streams of proxies with
//! `use_encryption`. Sans-IO: the caller moves the bytes. [`Encryptor`] and [`Decryptor`] keep
//! the partial-block state between calls, so chunk boundaries never matter (§8 trap 4). Also owns
//! the crate's randomness: IVs and run ids.

use std::fmt;

use aes::Aes128;
use cfb_mode::cipher::KeyIvInit;
use cfb_mode::{BufDecryptor, BufEncryptor};

/// Bytes of IV each direction sends first.
pub const IV_LEN: usize = 16;
/// AES-128 key bytes.
pub const KEY_LEN: usize = 16;
/// frp overrides golib's default salt `"crypto"` with this (§8 trap 5).
pub const KDF_SALT: &[u8] = b"frp";
/// PBKDF2 rounds.
pub const KDF_ROUNDS: u32 = 64;

/// The OS random number generator failed.
#[derive(Debug, thiserror::Error)]
#[error("OS random number generator failed: {0}")]
pub struct RngError(getrandom::Error);

/// A derived AES-128 key. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// PBKDF2-HMAC-SHA1 of `auth.token` (usually empty in HaRP). Not `metas.token`.
    pub fn derive(token: &str) -> Key {
        let mut key = [0u8; KEY_LEN];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(token.as_bytes(), KDF_SALT, KDF_ROUNDS, &mut key);
        Key(key)
    }

    /// A key from raw bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    /// The raw key bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(***)")
    }
}

/// 16 random bytes for an [`Encryptor`].
pub fn random_iv() -> Result<[u8; IV_LEN], RngError> {
    let mut iv = [0u8; IV_LEN];
    getrandom::fill(&mut iv).map_err(RngError)?;
    Ok(iv)
}

/// A run id as frps makes them: 8 random bytes as 16 lowercase hex characters (§3.2).
pub fn random_run_id() -> Result<String, RngError> {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).map_err(RngError)?;
    Ok(crate::auth::to_hex(&id))
}

/// The sending half: encrypts one direction of a stream.
pub struct Encryptor {
    cfb: BufEncryptor<Aes128>,
    iv: [u8; IV_LEN],
    iv_sent: bool,
}

impl Encryptor {
    /// An encryptor with a given IV (tests, or an IV chosen elsewhere).
    pub fn new(key: &Key, iv: [u8; IV_LEN]) -> Encryptor {
        let cfb = BufEncryptor::<Aes128>::new(&key.0.into(), &iv.into());
        Encryptor {
            cfb,
            iv,
            iv_sent: false,
        }
    }

    /// An encryptor with a fresh random IV.
    pub fn new_random(key: &Key) -> Result<Encryptor, RngError> {
        Ok(Encryptor::new(key, random_iv()?))
    }

    /// This direction's IV.
    pub const fn iv(&self) -> &[u8; IV_LEN] {
        &self.iv
    }

    /// The IV the first time it is called, `None` afterwards. Write it before the first byte
    /// that [`apply`](Self::apply) produced. Not needed with [`encrypt_to`](Self::encrypt_to).
    pub fn take_iv(&mut self) -> Option<[u8; IV_LEN]> {
        (!std::mem::replace(&mut self.iv_sent, true)).then_some(self.iv)
    }

    /// Encrypts `data` in place, continuing the stream. Emits no IV.
    pub fn apply(&mut self, data: &mut [u8]) {
        self.cfb.encrypt(data);
    }

    /// Appends what goes on the wire for `plaintext`: the IV on the first call (what frp's
    /// lazy writer does), then the ciphertext.
    pub fn encrypt_to(&mut self, plaintext: &[u8], out: &mut Vec<u8>) {
        if let Some(iv) = self.take_iv() {
            out.extend_from_slice(&iv);
        }
        let start = out.len();
        out.extend_from_slice(plaintext);
        if let Some(tail) = out.get_mut(start..) {
            self.apply(tail);
        }
    }
}

impl fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Encryptor")
            .field("iv_sent", &self.iv_sent)
            .finish_non_exhaustive()
    }
}

/// The receiving half: reads the peer's IV from the stream, then decrypts in place.
pub struct Decryptor {
    key: Key,
    iv: [u8; IV_LEN],
    iv_len: usize,
    cfb: Option<BufDecryptor<Aes128>>,
}

impl Decryptor {
    /// A decryptor that takes the first [`IV_LEN`] bytes it is fed as the IV.
    pub fn new(key: &Key) -> Decryptor {
        Decryptor {
            key: key.clone(),
            iv: [0; IV_LEN],
            iv_len: 0,
            cfb: None,
        }
    }

    /// A decryptor for a stream whose IV was read some other way.
    pub fn with_iv(key: &Key, iv: [u8; IV_LEN]) -> Decryptor {
        let cfb = BufDecryptor::<Aes128>::new(&key.0.into(), &iv.into());
        Decryptor {
            key: key.clone(),
            iv,
            iv_len: IV_LEN,
            cfb: Some(cfb),
        }
    }

    /// Whether the whole IV has been received.
    pub const fn has_iv(&self) -> bool {
        self.cfb.is_some()
    }

    /// Feeds bytes as they came off the wire. Leading bytes that complete the IV are consumed;
    /// the rest is decrypted in place and returned (possibly empty). Any chunking works.
    pub fn feed<'a>(&mut self, data: &'a mut [u8]) -> &'a mut [u8] {
        let mut data = data;
        if self.cfb.is_none() {
            let want = IV_LEN - self.iv_len;
            let (iv_part, rest) = data.split_at_mut(want.min(data.len()));
            if let Some(dst) = self.iv.get_mut(self.iv_len..self.iv_len + iv_part.len()) {
                dst.copy_from_slice(iv_part);
            }
            self.iv_len += iv_part.len();
            if self.iv_len == IV_LEN {
                self.cfb = Some(BufDecryptor::<Aes128>::new(
                    &self.key.0.into(),
                    &self.iv.into(),
                ));
            }
            data = rest;
        }
        if let Some(cfb) = &mut self.cfb {
            cfb.decrypt(data);
        }
        data
    }
}

impl fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decryptor")
            .field("has_iv", &self.has_iv())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
