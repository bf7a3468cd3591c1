fn main() {
    std::process::exit(gipgee::run::main());
}
