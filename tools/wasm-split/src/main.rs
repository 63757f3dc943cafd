//! Splits the portal's browser bundle at the split points Leptos's `#[lazy_route]` and
//! `#[lazy]` leave in it (the wasm must be linked with `--emit-relocs`).
//!
//! `wharf-wasm-split INPUT.wasm PKG_DIR MAIN_OUT.wasm` writes each split module and the shared
//! chunks into PKG_DIR with the loader `__wasm_split.______________________.js` (the name
//! Leptos's `HydrationScripts` looks for), the main module to MAIN_OUT.wasm for wasm-bindgen, and
//! `__wasm_split_manifest.json`, which tells the server which modules a page will need so it
//! can ask the browser to fetch them alongside the main one.

use std::path::Path;
use std::process::ExitCode;

/// The loader's name as Leptos expects it when file hashing is off.
const LINK_NAME: &str = "./__wasm_split.______________________.js";
const MANIFEST: &str = "__wasm_split_manifest.json";
/// How the loader fetches a module, and what it fetches with instead.
const MODULE_FETCH: &str = "fetch(new URL(";
const RETRYING_FETCH: &str = "fetchModule(new URL(";
/// A fetch that tries again on a failure of the network (a laptop changing networks, or a
/// host adding interfaces aborts requests in flight): a page needs dozens of modules, and
/// one lost fetch would otherwise leave it half alive. HTTP errors are answers, not retried.
const FETCH_MODULE: &str = "\
const fetchModule = async (url, attempt = 0) => {
    try {
        const response = await fetch(url);
        // Read whole here, so a failure while the body streams is tried again too.
        return new Response(await response.arrayBuffer(), { status: response.status, headers: response.headers });
    } catch (e) {
        // About 9 s in all: long enough for a burst of changes to pass.
        if (attempt >= 8) throw e;
        await new Promise((done) => setTimeout(done, Math.min(100 * 2 ** attempt, 2000)));
        return fetchModule(url, attempt + 1);
    }
};
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, pkg_dir, main_out] = args.as_slice() else {
        eprintln!("usage: wharf-wasm-split INPUT.wasm PKG_DIR MAIN_OUT.wasm");
        return ExitCode::from(2);
    };
    match split(Path::new(input), Path::new(pkg_dir), Path::new(main_out)) {
        Ok(modules) => {
            println!("wasm-split: {modules} modules split out of {input}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wasm-split: {e}");
            ExitCode::FAILURE
        }
    }
}

fn split(input: &Path, pkg_dir: &Path, main_out: &Path) -> Result<usize, String> {
    let wasm = std::fs::read(input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    let mut options = wasm_split_cli_support::Options::new(&wasm);
    options.output_dir = pkg_dir;
    options.main_out_path = main_out;
    // Split modules import `initSync`'s memory and table from the glue wasm-bindgen writes.
    options.main_module = "./wharf.js";
    options.link_name = LINK_NAME;
    let split = wasm_split_cli_support::transform(options).map_err(|e| format!("splitting {}: {e:?}", input.display()))?;
    retry_fetches(&pkg_dir.join(LINK_NAME))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map).map_err(|e| e.to_string())?;
    let manifest_path = pkg_dir.join(MANIFEST);
    std::fs::write(&manifest_path, manifest).map_err(|e| format!("writing {}: {e}", manifest_path.display()))?;
    Ok(split.split_modules.len())
}

/// Makes the loader fetch modules with [`FETCH_MODULE`]. Fails when the loader no longer fetches
/// the way this expects (a new version of the split tool), rather than shipping without it.
fn retry_fetches(loader: &Path) -> Result<(), String> {
    let js = std::fs::read_to_string(loader).map_err(|e| format!("reading {}: {e}", loader.display()))?;
    if !js.contains(MODULE_FETCH) {
        return Err(format!("{} fetches its modules in a way this build does not know", loader.display()));
    }
    // After the import lines: a module's imports come first.
    let body = js.find("\n\n").map_or(0, |i| i + 2);
    let patched = format!("{}{FETCH_MODULE}{}", &js[..body], js[body..].replace(MODULE_FETCH, RETRYING_FETCH));
    std::fs::write(loader, patched).map_err(|e| format!("writing {}: {e}", loader.display()))
}
