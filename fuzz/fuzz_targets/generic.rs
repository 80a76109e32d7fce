//! The generic CSV (`crates/import/FORMAT.md`): any bytes, no panic; an error is one line that
//! names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talaka_import::{Format, read_csv};

fuzz_target!(|data: &[u8]| {
    for leader in [None, Some("a")] {
        for format in [Format::Generic, Format::Auto] {
            if let Err(e) = read_csv("fuzz.csv", data, leader, format) {
                let msg = e.to_string();
                assert!(msg.starts_with("fuzz.csv") && !msg.contains('\n'), "{msg}");
            }
        }
    }
});
