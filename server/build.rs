// The migrations are embedded at compile time (`sqlx::migrate!`); a new or changed one must
// rebuild the server even when no Rust file changed.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
