//! Link settings of the `golive` binary (the library and its tests are built as usual).

fn main() {
    // Relative relocations packed (DT_RELR, `-z pack-relative-relocs`): a position-independent
    // executable's table of relocations shrinks from ~760 KB to ~9 KB. The dynamic loader reads
    // the whole table at every start, and its pages then stayed in the daemon's resident set
    // (BENCHMARKS.md, "Probing cost"). glibc reads it since 2.36 (Debian 12); an older loader
    // refuses the binary, naming `GLIBC_ABI_DT_RELR`. Address-space randomisation is unchanged.
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
