//! Times one import: `cargo run --release -p talaka-import --example import_time -- FILE LEADER`.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(leader)) = (args.next(), args.next()) else {
        eprintln!("usage: import_time FILE LEADER");
        std::process::exit(2);
    };
    let start = Instant::now();
    match talaka_import::read_file(path.as_ref(), Some(&leader), talaka_import::Format::Auto) {
        Ok(e) => println!(
            "{}: {} stations, {} options, imported in {:.3} s",
            e.name,
            e.len(),
            e.options.len(),
            start.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
