//! The Russian CEC/Shpilkin CSV, both as a forensics election and as an elections dataset: any
//! bytes, no panic; an error is one line that names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talaka_import::cec_dataset::read_cec_dataset_csv;
use talaka_import::{Format, read_csv};

fuzz_target!(|data: &[u8]| {
    let errors = [
        read_csv("fuzz.csv", data, Some("а"), Format::Cec).err(),
        read_cec_dataset_csv("fuzz.csv", data, "e", "E", "2024-03-17").err(),
    ];
    for e in errors.into_iter().flatten() {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz.csv") && !msg.contains('\n'), "{msg}");
    }
});
