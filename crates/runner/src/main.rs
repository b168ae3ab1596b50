//! The `conveyor` command line (placeholder until the CLI lands).

fn main() {
    eprintln!("conveyor: not yet");
    std::process::exit(2);
}
