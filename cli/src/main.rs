//! `iis-rewrite`: import, check and explain IIS web.config rewrite rules, and generate the Envoy
//! bootstrap that runs them.

mod envoy;

fn main() {
    println!("iis-rewrite {}", iis_rewrite_filter::VERSION);
}
