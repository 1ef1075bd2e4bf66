fn main() {
    eprintln!("no scenarios yet");
    std::process::exit(2);
}
