/// mimalloc: generate makes and drops hundreds of thousands of small values, and the shipped
/// static (musl) binary would otherwise use musl's allocator, which is built for size, not speed
/// (docs/design.md, "Speed").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(gipgee::cli::main());
}
