//! `lattice-bench-protoc` (feature `protoc`): prints the path of the `protoc`
//! binary shipped by the `protoc-bin-vendored` crate, for `PROTOC=...` when
//! building with `--features etcd` (etcd-client's build script needs
//! protoc; see Cargo.toml).

fn main() -> anyhow::Result<()> {
    let path = protoc_bin_vendored::protoc_bin_path()
        .map_err(|e| anyhow::anyhow!("protoc-bin-vendored: {e}"))?;
    println!("{}", path.display());
    Ok(())
}
