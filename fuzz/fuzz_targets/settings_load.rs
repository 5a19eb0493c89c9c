//! The window's settings file (`settings.ron`, hand-edited by users): every load gives settings
//! the app can use, a problem leaves the file unwritable (it is never overwritten), and
//! settings that loaded cleanly come back the same after a save. The first byte picks how the
//! rest is read: as the file itself (any bytes), or as the values of a well-formed file (any
//! number, string or option in each field), which reaches the checks of values that raw byte
//! mutations, which mostly break the syntax, rarely do.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

// The window's own settings code, compiled here without the rest of the window (whose GPU
// stack would take longer to build under the fuzzer's instrumentation than a run is worth).
#[path = "../../plugins/hark_ui/src/settings.rs"]
#[allow(dead_code)]
mod settings;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("hark-fuzz-settings-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temporary directory");
        d
    })
}

/// A well-formed settings file whose values come from `u`.
fn document(u: &mut Unstructured) -> Result<String> {
    fn number(u: &mut Unstructured) -> Result<String> {
        // Any f32 (NaN, infinities, huge, tiny), or a small integer.
        Ok(if u.arbitrary()? { format!("{:?}", f32::from_bits(u.arbitrary()?)) } else { u.int_in_range(0..=5000u32)?.to_string() })
    }
    fn text(u: &mut Unstructured) -> Result<String> {
        Ok(format!("{:?}", u.arbitrary::<String>()?))
    }
    fn option(u: &mut Unstructured, value: fn(&mut Unstructured) -> Result<String>) -> Result<String> {
        Ok(if u.arbitrary()? { format!("Some({})", value(u)?) } else { "None".into() })
    }
    let version = if u.arbitrary()? { u.int_in_range(0..=3u32)? } else { u.arbitrary()? };
    let recall: u32 = if u.arbitrary()? { u.int_in_range(0..=700)? } else { u.arbitrary()? };
    let place = |u: &mut Unstructured| -> Result<String> {
        Ok(format!("(shown: {}, width: {})", u.arbitrary::<bool>()?, option(u, number)?))
    };
    Ok(format!(
        "(version: {version}, input_device: {}, output_device: {}, model: {}, vad_threshold: {}, \
         hotkeys: (toggle: {}, push_to_talk: {}, recall: {}), recall_seconds: {recall}, recall_asked: {}, \
         type_into_focused: {}, panels: (left: {}, right: {}))",
        option(u, text)?,
        option(u, text)?,
        text(u)?,
        number(u)?,
        text(u)?,
        text(u)?,
        text(u)?,
        u.arbitrary::<bool>()?,
        u.arbitrary::<bool>()?,
        place(u)?,
        place(u)?,
    ))
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        match document(&mut Unstructured::new(rest)) {
            Ok(d) => d.into_bytes(),
            Err(_) => return,
        }
    };
    let path = dir().join("settings.ron");
    std::fs::write(&path, &bytes).expect("temporary file");
    let loaded = settings::load(&path);
    let s = &loaded.settings;
    assert!(settings::VAD_THRESHOLDS.contains(&s.vad_threshold), "threshold {}", s.vad_threshold);
    assert!(s.recall_seconds <= settings::MAX_RECALL_SECONDS, "recall {}", s.recall_seconds);
    for w in [s.panels.left.width, s.panels.right.width].into_iter().flatten() {
        assert!(settings::PANEL_WIDTHS.contains(&w), "panel width {w}");
    }
    if let Some(p) = &loaded.problem {
        assert!(!loaded.writable, "a file with a problem would be overwritten: {p}");
        assert!(p.contains("settings.ron"), "the problem does not name the file: {p}");
    } else {
        let again = dir().join("saved.ron");
        settings::save(&again, s).expect("save");
        let back = settings::load(&again);
        assert!(back.problem.is_none(), "{:?}", back.problem);
        assert_eq!(&back.settings, s, "a save and a load changed the settings");
    }
});
