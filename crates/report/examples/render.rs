//! Renders the report for one CEC/Shpilkin file, for looking at it:
//! `cargo run --release -p talaka-report --example render -- FILE LEADER OUT.html`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, leader, out] = args.as_slice() else {
        return Err("usage: render FILE LEADER OUT.html".into());
    };
    let e = talaka_import::read_cec_file(std::path::Path::new(path), leader)?;
    let a = talaka_forensics::analysis::analyze(&e, &Default::default());
    let html = talaka_report::html(&a);
    std::fs::write(out, &html)?;
    println!("{out}: {} bytes", html.len());
    Ok(())
}
