//! Envoy's decompressor and compressor around the filter, for configurations with rules on
//! response bodies (docs/configuration.md, "Compressed responses").
//!
//! IIS cannot rewrite an encoded body and answers 500.52; the usual workaround blanks
//! `Accept-Encoding` towards the backend. Envoy can do better with its own filters. HTTP filters
//! run in list order on requests and in reverse order on responses, so the list becomes
//! `compressor, iis-rewrite, decompressor (gzip, brotli), router`:
//!
//! * on the response, the decompressors decode the backend's gzip or brotli before the filter
//!   sees the body, and the compressor encodes the rewritten body for clients that accept gzip;
//! * on the request, the compressor reads the client's `Accept-Encoding` before the rules run,
//!   so a rule that blanks `HTTP_ACCEPT_ENCODING` (the ARR workaround) only changes what the
//!   backend is offered; each decompressor then offers its own encoding to the backend
//!   (`advertise_accept_encoding`), which it decodes again. Request bodies are never
//!   decompressed.

use crate::yaml::Y;

use super::sites::child_mut;
use super::FILTER_NAME;

const COMPRESSOR_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor";
const DECOMPRESSOR_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor";
const GZIP_COMPRESSOR_TYPE: &str =
    "type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip";
const GZIP_DECOMPRESSOR_TYPE: &str =
    "type.googleapis.com/envoy.extensions.compression.gzip.decompressor.v3.Gzip";
const BROTLI_DECOMPRESSOR_TYPE: &str =
    "type.googleapis.com/envoy.extensions.compression.brotli.decompressor.v3.Brotli";

/// The compressor that encodes rewritten responses for the client (gzip; Envoy's default
/// content types, which include HTML, CSS, JavaScript, JSON and XML).
fn compressor() -> Y {
    Y::map().with("name", "envoy.filters.http.compressor").with(
        "typed_config",
        Y::map().with("@type", COMPRESSOR_TYPE).with(
            "compressor_library",
            Y::map()
                .with("name", "gzip")
                .with("typed_config", Y::map().with("@type", GZIP_COMPRESSOR_TYPE)),
        ),
    )
}

/// A decompressor of backend responses in one encoding; request bodies pass as they are.
fn decompressor(encoding: &str, library_type: &str) -> Y {
    let off = Y::map().with(
        "enabled",
        Y::map()
            .with("default_value", false)
            .with("runtime_key", "iis_rewrite.decompress_requests"),
    );
    Y::map()
        .with(
            "name",
            format!("envoy.filters.http.decompressor.{encoding}"),
        )
        .with(
            "typed_config",
            Y::map()
                .with("@type", DECOMPRESSOR_TYPE)
                .with(
                    "decompressor_library",
                    Y::map()
                        .with("name", encoding)
                        .with("typed_config", Y::map().with("@type", library_type)),
                )
                .with(
                    "request_direction_config",
                    Y::map().with("common_config", off),
                ),
        )
}

/// Puts the compressor before the wasm filter and the decompressors after it, in one
/// connection manager's `http_filters`. Returns whether the wasm filter was found.
pub fn around_filter(http_filters: &mut Vec<Y>) -> bool {
    let Some(at) = http_filters
        .iter()
        .position(|f| f.get("name") == Some(&Y::Str(FILTER_NAME.to_string())))
    else {
        return false;
    };
    let after = [
        decompressor("gzip", GZIP_DECOMPRESSOR_TYPE),
        decompressor("br", BROTLI_DECOMPRESSOR_TYPE),
    ];
    let tail = at + 1;
    http_filters.splice(tail..tail, after);
    http_filters.insert(at, compressor());
    true
}

/// [`around_filter`] in every HTTP connection manager of the listeners `listeners`.
pub fn add_to_listeners(listeners: &mut [Y]) {
    for listener in listeners {
        for_each_child(
            listener,
            &["filter_chains", "filters", "typed_config"],
            &mut |hcm| {
                if let Some(Y::Seq(filters)) = child_mut(hcm, "http_filters") {
                    around_filter(filters);
                }
            },
        );
    }
}

/// Calls `f` on every node reached by following `path` (sequences are walked through).
fn for_each_child(y: &mut Y, path: &[&str], f: &mut dyn FnMut(&mut Y)) {
    let Some((first, rest)) = path.split_first() else {
        f(y);
        return;
    };
    match child_mut(y, first) {
        Some(Y::Seq(items)) => {
            for item in items {
                for_each_child(item, rest, f);
            }
        }
        Some(child) => for_each_child(child, rest, f),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn names(filters: &[Y]) -> Vec<String> {
        filters
            .iter()
            .map(|f| match f.get("name") {
                Some(Y::Str(s)) => s.clone(),
                _ => String::new(),
            })
            .collect()
    }

    #[test]
    fn the_filter_sits_between_compressor_and_decompressors() {
        let mut filters = vec![
            Y::map().with("name", FILTER_NAME),
            Y::map().with("name", "envoy.filters.http.router"),
        ];
        assert!(around_filter(&mut filters));
        assert_eq!(
            names(&filters),
            [
                "envoy.filters.http.compressor",
                FILTER_NAME,
                "envoy.filters.http.decompressor.gzip",
                "envoy.filters.http.decompressor.br",
                "envoy.filters.http.router"
            ]
        );
        let mut without = vec![Y::map().with("name", "envoy.filters.http.router")];
        assert!(!around_filter(&mut without));
        assert_eq!(without.len(), 1);
    }
}
