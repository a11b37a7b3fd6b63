#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

//! The key sealer: what opens, what does not (and that it never panics), and the key file's
//! rules.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use chatrixcd_ports::{SealError, Sealer};
use chatrixcd_sealer::{KeyFileError, KeySealer};
use proptest::prelude::*;

fn sealer() -> KeySealer {
    KeySealer::from_bytes([7; 32])
}

#[test]
fn values_open_as_they_were_sealed() {
    let sealer = sealer();
    for plain in ["", "hunter2", "pässwörd 🔑 パスワード", "a\nb\0c", &"x".repeat(10_000)] {
        let sealed = sealer.seal(plain).unwrap();
        assert!(sealed.starts_with("v1:"), "{sealed}");
        assert!(!sealed.contains('='), "no padding: {sealed}");
        assert_eq!(sealer.open(&sealed).unwrap(), plain);
    }
}

#[test]
fn the_same_value_seals_differently_each_time() {
    let sealer = sealer();
    let (a, b) = (sealer.seal("hunter2").unwrap(), sealer.seal("hunter2").unwrap());
    assert_ne!(a, b, "a fresh nonce each time");
    assert_eq!(sealer.open(&a).unwrap(), sealer.open(&b).unwrap());
}

#[test]
fn anything_changed_or_foreign_is_unreadable() {
    let sealer = sealer();
    let sealed = sealer.seal("hunter2").unwrap();
    let bytes = STANDARD_NO_PAD.decode(&sealed[3..]).unwrap();
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x01;
        let text = format!("v1:{}", STANDARD_NO_PAD.encode(&flipped));
        assert_eq!(sealer.open(&text), Err(SealError::Unreadable), "byte {i} flipped");
    }
    for cut in [1, 5, bytes.len() - 1, bytes.len()] {
        let text = format!("v1:{}", STANDARD_NO_PAD.encode(&bytes[..bytes.len() - cut]));
        assert_eq!(sealer.open(&text), Err(SealError::Unreadable), "{cut} bytes cut");
    }
    let truncated_text = &sealed[..sealed.len() - 1];
    let padded = format!("v1:{}", base64::engine::general_purpose::STANDARD.encode(&bytes));
    let unreadable = [
        truncated_text,
        &sealed[3..],
        &sealed.replacen("v1:", "v2:", 1),
        &sealed.replacen("v1:", "V1:", 1),
        &format!(" {sealed}"),
        &format!("{sealed}\n"),
        &padded,
        "",
        "v1:",
        "v1:!!!!",
        "v1:AAAA",
        "hunter2",
        "v1:ünïcödé",
    ];
    for text in unreadable {
        assert_eq!(sealer.open(text), Err(SealError::Unreadable), "{text:?}");
    }
    let other = KeySealer::from_bytes([8; 32]);
    assert_eq!(other.open(&sealed), Err(SealError::Unreadable), "another key");
    let ephemeral = KeySealer::ephemeral().unwrap();
    assert_eq!(ephemeral.open(&sealed), Err(SealError::Unreadable));
    assert_eq!(ephemeral.open(&ephemeral.seal("x").unwrap()).unwrap(), "x");
}

#[test]
fn the_key_stays_out_of_debug() {
    let shown = format!("{:?}", KeySealer::from_bytes([0xAB; 32]));
    assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab, "), "{shown}");
    assert!(shown.starts_with("KeySealer"), "{shown}");
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_key_file_is_made_once_then_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealer.key");
    let first = KeySealer::from_key_file(&path).unwrap();
    let key = std::fs::read(&path).unwrap();
    assert_eq!(key.len(), 32);
    assert_ne!(key, [0; 32]);
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let sealed = first.seal("hunter2").unwrap();
    let second = KeySealer::from_key_file(&path).unwrap();
    assert_eq!(second.open(&sealed).unwrap(), "hunter2", "the same key on the second open");
    assert_eq!(std::fs::read(&path).unwrap(), key, "the file is left as it was");

    let elsewhere = tempfile::tempdir().unwrap();
    let another = KeySealer::from_key_file(&elsewhere.path().join("sealer.key")).unwrap();
    assert_eq!(another.open(&sealed), Err(SealError::Unreadable), "each file its own key");
}

#[test]
fn a_key_file_of_the_wrong_length_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    for len in [0, 31, 33, 4096] {
        let path = dir.path().join(format!("short{len}.key"));
        std::fs::write(&path, vec![1; len]).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let err = KeySealer::from_key_file(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::WrongLength { found, .. } if found == len as u64), "{err}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()) && text.contains(&format!("{len} bytes")), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), vec![1; len], "never overwritten");
    }
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sealer.key");
    drop(KeySealer::from_key_file(&path).unwrap());
    for open in [0o644, 0o640, 0o604, 0o620, 0o602] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
        let err = KeySealer::from_key_file(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::TooOpen { mode, .. } if mode == open), "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("chmod 600 {}", path.display())), "{text}");
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    KeySealer::from_key_file(&path).unwrap();
}

#[test]
fn a_key_file_in_a_missing_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere").join("sealer.key");
    let err = KeySealer::from_key_file(&path).unwrap_err();
    assert!(matches!(err, KeyFileError::Io { .. }), "{err}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert!(!path.parent().unwrap().exists(), "no directory is made");
}

proptest! {
    /// Any text opens as it was sealed, and the sealed text never shows it.
    #[test]
    fn any_text_opens_as_sealed_and_does_not_show(plain in any::<String>()) {
        let sealer = sealer();
        let sealed = sealer.seal(&plain).unwrap();
        prop_assert_eq!(sealer.open(&sealed).unwrap(), plain.clone());
        if plain.chars().count() >= 8 {
            prop_assert!(!sealed.contains(&plain), "{} shows in {}", plain, sealed);
        }
    }

    /// Opening never panics, whatever it is given.
    #[test]
    fn opening_anything_never_panics(text in any::<String>(), body in prop::collection::vec(any::<u8>(), 0..80)) {
        let sealer = sealer();
        prop_assert_eq!(sealer.open(&text), Err(SealError::Unreadable));
        let forged = format!("v1:{}", STANDARD_NO_PAD.encode(&body));
        prop_assert_eq!(sealer.open(&forged), Err(SealError::Unreadable));
    }
}

#[test]
fn random_hex_is_fresh_hex_of_the_asked_length() {
    let (a, b) = (chatrixcd_sealer::random_hex(16).unwrap(), chatrixcd_sealer::random_hex(16).unwrap());
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{a}");
    assert_ne!(a, b);
}
