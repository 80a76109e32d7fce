//! The Exitpol Abroad format (semicolon-separated percentages): any bytes, no panic; an error is
//! one line that names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use talaka_import::exitpoll::read_exit_poll_csv;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = read_exit_poll_csv("fuzz.csv", data) {
        let msg = e.to_string();
        assert!(msg.starts_with("fuzz.csv") && !msg.contains('\n'), "{msg}");
    }
});
