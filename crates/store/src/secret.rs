//! Secrets at rest (`sources.secret`, `webhooks.secret`) are sealed with
//! AES-256-GCM under a key from the operator, never stored as plain text.
//!
//! A sealed value reads `enc:v1:<key id>:<hex of nonce ‖ ciphertext ‖
//! tag>`; the key id is the first 8 hex digits of the key's SHA-256, so a
//! value names the key that opens it. A [`Cipher`] holds the current key
//! (it seals) and older ones (they only open), which is how keys rotate:
//! configure the new key with the old one beside it, run
//! [`reseal_all`] (`trawler secrets rotate`), then drop the old key. A value
//! whose key is not configured is an error, never an empty secret.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use diesel::prelude::*;

use crate::schema::{sources, webhooks};
use crate::{AnyConnection, StoreError, StoreResult};

const PREFIX: &str = "enc:v1:";

/// One AES-256 key and its id.
struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn new(bytes: &[u8; 32]) -> Result<Key, String> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
        let id: String = digest.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "the AES key was refused".to_owned())?;
        Ok(Key { id, key: LessSafeKey::new(key) })
    }
}

/// Seals with the current key, opens with any configured key.
pub struct Cipher {
    current: Key,
    old: Vec<Key>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let old: Vec<&str> = self.old.iter().map(|k| k.id.as_str()).collect();
        write!(f, "Cipher {{ current: {}, old: {old:?} }}", self.current.id)
    }
}

/// Parses a key written as 64 hex digits.
fn parse_key(hex: &str) -> Result<[u8; 32], String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("a secret key is 64 hex digits (32 bytes); `trawler secrets new-key` makes one".into());
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// A new random key, as 64 hex digits.
pub fn new_key() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "the system random source failed".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl Cipher {
    /// A cipher sealing with `current` and also opening with `old` (keys as
    /// 64 hex digits).
    pub fn new(current: &str, old: &[String]) -> Result<Cipher, String> {
        let current = Key::new(&parse_key(current)?)?;
        let old = old.iter().map(|k| parse_key(k).and_then(|b| Key::new(&b))).collect::<Result<Vec<_>, _>>()?;
        Ok(Cipher { current, old })
    }

    /// A cipher with a fresh random key (tests, and nothing stored for good).
    pub fn ephemeral() -> Result<Cipher, String> {
        Cipher::new(&new_key()?, &[])
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Whether a key with this id is configured.
    pub fn knows(&self, id: &str) -> bool {
        self.current.id == id || self.old.iter().any(|k| k.id == id)
    }

    /// Seals a secret with the current key.
    pub fn seal(&self, plain: &str) -> StoreResult<String> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| StoreError::Secret("the system random source failed".into()))?;
        let mut data = plain.as_bytes().to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.current.id.as_bytes()),
                &mut data,
            )
            .map_err(|_| StoreError::Secret("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}:{}", self.current.id, hex_encode(&out)))
    }

    /// Opens a sealed secret. A plain value (written before secrets were
    /// sealed) is returned as it is; [`reseal_all`] seals those.
    pub fn open(&self, stored: &str) -> StoreResult<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) =
            rest.split_once(':').ok_or_else(|| StoreError::Secret("a sealed secret is malformed".into()))?;
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == id)
            .ok_or_else(|| StoreError::Secret(format!("a secret is sealed with key {id}, which is not configured")))?;
        let mut data = hex_decode(body).ok_or_else(|| StoreError::Secret("a sealed secret is malformed".into()))?;
        if data.len() < NONCE_LEN {
            return Err(StoreError::Secret("a sealed secret is malformed".into()));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&data[..NONCE_LEN]);
        let sealed = &mut data[NONCE_LEN..];
        let plain = key
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(id.as_bytes()), sealed)
            .map_err(|_| StoreError::Secret(format!("a secret sealed with key {id} does not open with it")))?;
        String::from_utf8(plain.to_vec()).map_err(|_| StoreError::Secret("a sealed secret is not text".into()))
    }
}

/// The ids of the keys stored secrets are sealed with, and how many stored
/// secrets are plain text.
pub fn stored_keys(conn: &mut AnyConnection) -> StoreResult<(Vec<String>, i64)> {
    let mut values: Vec<String> = crate::db_run!(conn: {
        sources::table.filter(sources::secret.is_not_null()).select(sources::secret.assume_not_null()).load(conn)?
    });
    let hooks: Vec<String> = crate::db_run!(conn: { webhooks::table.select(webhooks::secret).load(conn)? });
    values.extend(hooks);
    let mut ids: Vec<String> = values
        .iter()
        .filter_map(|v| v.strip_prefix(PREFIX).and_then(|r| r.split_once(':')).map(|(id, _)| id.to_owned()))
        .collect();
    ids.sort();
    ids.dedup();
    let plain = values.iter().filter(|v| !v.starts_with(PREFIX)).count() as i64;
    Ok((ids, plain))
}

/// Seals every stored secret with the current key: plain ones, and ones
/// sealed with an older key. One transaction; `progress(done, total)` is
/// called as it goes. Returns how many were rewritten.
pub fn reseal_all(
    conn: &mut AnyConnection,
    cipher: &Cipher,
    mut progress: impl FnMut(usize, usize),
) -> StoreResult<usize> {
    let current = format!("{PREFIX}{}:", cipher.key_id());
    crate::write_transaction::<_, StoreError, _>(conn, |conn| {
        let srcs: Vec<(i64, String)> = crate::db_run!(conn: {
            sources::table
                .filter(sources::secret.is_not_null())
                .select((sources::id, sources::secret.assume_not_null()))
                .load(conn)?
        });
        let hooks: Vec<(i64, String)> =
            crate::db_run!(conn: { webhooks::table.select((webhooks::id, webhooks::secret)).load(conn)? });
        let total = srcs.len() + hooks.len();
        let mut done = 0;
        let mut rewritten = 0;
        for (id, value) in srcs {
            if !value.starts_with(&current) {
                let sealed = cipher.seal(&cipher.open(&value)?)?;
                crate::db_run!(conn: {
                    diesel::update(sources::table.find(id)).set(sources::secret.eq(Some(&sealed))).execute(conn)?
                });
                rewritten += 1;
            }
            done += 1;
            progress(done, total);
        }
        for (id, value) in hooks {
            if !value.starts_with(&current) {
                let sealed = cipher.seal(&cipher.open(&value)?)?;
                crate::db_run!(conn: {
                    diesel::update(webhooks::table.find(id)).set(webhooks::secret.eq(&sealed)).execute(conn)?
                });
                rewritten += 1;
            }
            done += 1;
            progress(done, total);
        }
        Ok(rewritten)
    })
}

fn hex_encode(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_round_trip_and_name_their_key() {
        let old = Cipher::ephemeral().expect("a key");
        let sealed = old.seal("EAAB-token").expect("sealed");
        assert!(sealed.starts_with(&format!("enc:v1:{}:", old.key_id())) && !sealed.contains("EAAB"));
        assert_ne!(old.seal("EAAB-token").expect("sealed"), sealed, "a fresh nonce each time");
        assert_eq!(old.open(&sealed).expect("opens"), "EAAB-token");
        assert_eq!(old.open("plain-legacy").expect("plain"), "plain-legacy");
        // A cipher without that key refuses, naming the key.
        let other = Cipher::ephemeral().expect("a key");
        let err = other.open(&sealed).expect_err("unknown key").to_string();
        assert!(err.contains(old.key_id()) && !err.contains("EAAB"), "{err}");
        // Rotation: the new current key opens old values while the old key is kept.
        let key = new_key().expect("key");
        let old_hex = "00".repeat(32);
        let with_old = Cipher::new(&old_hex, &[]).expect("cipher");
        let rotated = Cipher::new(&key, &[old_hex]).expect("cipher");
        assert_eq!(rotated.open(&with_old.seal("s").expect("sealed")).expect("opens"), "s");
        // A tampered value does not open (the last hex digit changed to
        // another digit: a case change of the same digit would be no change).
        let mut bad = sealed.clone();
        bad.pop();
        bad.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert_ne!(bad.to_ascii_lowercase(), sealed.to_ascii_lowercase());
        assert!(old.open(&bad).is_err());
        assert!(Cipher::new("short", &[]).is_err());
    }
}
