//! `wasm-split-site <input.wasm> <pkg dir> <out name>`: splits the console's WASM (linked
//! with `--emit-relocs`) at its `#[lazy]` / `#[lazy_route]` points, as `cargo leptos
//! --split` does. Writes `<pkg dir>/<out name>_split.wasm` (the main module, for
//! wasm-bindgen), one `.wasm` per chunk, the loader `__wasm_split.<…>.js` and
//! `split-manifest.json` (which chunks each lazy route needs), from which the server
//! preloads a page's chunks (`app::ssr::chunk_preloads`). Not under the name Leptos looks
//! for: its own preloads come only when the lazy route has run before it checks, so a
//! page would carry them some of the time.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// The loader's name when file hashing is off, as Leptos' `HydrationScripts` expects it.
const LINK_NAME: &str = "./__wasm_split.______________________.js";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, pkg_dir, out_name] = args.as_slice() else {
        bail!("usage: wasm-split-site <input.wasm> <pkg dir> <out name>");
    };
    let input_wasm = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let pkg_dir = PathBuf::from(pkg_dir);
    std::fs::create_dir_all(&pkg_dir)?;
    let main_out = pkg_dir.join(format!("{out_name}_split.wasm"));
    let main_module = format!("./{out_name}.js");

    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&input_wasm);
        opts.output_dir = &pkg_dir;
        opts.main_out_path = &main_out;
        opts.main_module = &main_module;
        opts.link_name = LINK_NAME;
        opts
    })
    .map_err(|e| anyhow::anyhow!("splitting {input}: {e}"))?;

    let manifest = serde_json::to_string_pretty(&split.prefetch_map)?;
    std::fs::write(pkg_dir.join("split-manifest.json"), manifest)?;
    for module in &split.split_modules {
        println!("{}", module.display());
    }
    Ok(())
}
