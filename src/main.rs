fn main() {
    std::process::exit(gipgee::cli::main());
}
