//! The Golos (Voice2020) `voice.csv`, alone and with a `geo-categorized.csv`: the input is split
//! at its first NUL byte into the two files. Any bytes, no panic; an error is one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talaka_import::voice2020::import_voice_csv;

fuzz_target!(|data: &[u8]| {
    let (voice, geo) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let result = match geo {
        Some(g) => import_voice_csv("voice.csv", voice, Some(("geo.csv", g))),
        None => import_voice_csv("voice.csv", voice, None::<(&str, &[u8])>),
    };
    if let Err(e) = result {
        let msg = e.to_string();
        assert!(
            (msg.starts_with("voice.csv") || msg.starts_with("geo.csv")) && !msg.contains('\n'),
            "{msg}"
        );
    }
});
