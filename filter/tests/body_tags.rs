//! The filterByTags rewriter on whole pages: the expected rewrite of a fixture, the same result
//! however the body is cut into chunks, untouched bytes where nothing matches, and bounded
//! state on a 50 MB body.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// Only the generator is used here, not the testdata pattern collection.
#[allow(dead_code)]
mod common;

use common::Rng;
use iis_rewrite_filter::body::{TagRewriter, TagSet, TagStats, MAX_TAG_BYTES};

const ALL_TAGS: &str = "A, Area, Base, Form, Frame, Head, IFrame, Img, Input, Link, Script";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/html/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The reverse-proxy rule of the IIS documentation: absolute links to the backend become
/// links under the proxy's prefix.
fn backend_to_app(_: &str, _: &str, value: &[u8]) -> Option<Vec<u8>> {
    value
        .strip_prefix(b"http://backend.local/")
        .map(|rest| [b"/app/".as_slice(), rest].concat())
}

/// Feeds `chunks` to a rewriter of all built-in tags, checking the held state after each.
fn rewrite<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    rewrite: impl FnMut(&str, &str, &[u8]) -> Option<Vec<u8>>,
) -> (Vec<u8>, TagStats) {
    let mut rewriter = TagRewriter::new(TagSet::from_filter(ALL_TAGS, None).unwrap(), rewrite);
    let mut out = Vec::new();
    for chunk in chunks {
        rewriter.feed(chunk, &mut out);
        assert!(rewriter.held_bytes() <= MAX_TAG_BYTES);
    }
    rewriter.finish(&mut out);
    assert_eq!(rewriter.held_bytes(), 0);
    (out, rewriter.stats())
}

fn rewrite_whole(page: &[u8]) -> Vec<u8> {
    rewrite([page], backend_to_app).0
}

#[test]
fn mixed_page_gets_its_expected_rewrite() {
    let (out, stats) = rewrite([fixture("mixed.html").as_slice()], backend_to_app);
    let expected = fixture("mixed.expected.html");
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(stats.values_rewritten, 21);
}

#[test]
fn every_split_point_gives_the_one_chunk_result() {
    for name in ["mixed.html", "malformed.html"] {
        let page = fixture(name);
        let whole = rewrite_whole(&page);
        for at in 0..=page.len() {
            let (head, tail) = page.split_at(at);
            assert_eq!(
                rewrite([head, tail], backend_to_app).0,
                whole,
                "{name} split at {at}"
            );
        }
        for size in 1..=64 {
            assert_eq!(
                rewrite(page.chunks(size), backend_to_app).0,
                whole,
                "{name} chunks of {size}"
            );
        }
    }
}

#[test]
fn a_page_without_matches_is_byte_identical() {
    for name in ["mixed.html", "malformed.html", "mixed.expected.html"] {
        let page = fixture(name);
        for size in [1, 7, 64, page.len()] {
            let (out, stats) = rewrite(page.chunks(size), |_: &str, _: &str, _: &[u8]| None);
            assert_eq!(out, page, "{name} in chunks of {size}");
            assert!(stats.values_seen > 0);
        }
    }
}

#[test]
fn malformed_markup_is_rewritten_where_well_formed_and_never_truncated() {
    let page = fixture("malformed.html");
    let out = String::from_utf8(rewrite_whole(&page)).unwrap();
    assert!(out.contains(r#"<a href="/app/ok-before">"#));
    assert!(out.contains(r#"<a href="/app/ok-after">"#));
    // The page ends inside a tag: written out as it came.
    assert!(out.ends_with(r#"<a href="http://backend.local/cut-off"#));
}

#[test]
fn bytes_that_are_not_utf8_pass_through() {
    let page: Vec<u8> = [
        b"<p>\xe9t\xe9 \xff\xfe\x80</p><a title='\xe9' href=\"http://backend.local/\xe9\xff\">"
            .as_slice(),
        b"\xc3(<img src=http://backend.local/\x80x>\xf0\x9f",
    ]
    .concat();
    let expected: Vec<u8> = [
        b"<p>\xe9t\xe9 \xff\xfe\x80</p><a title='\xe9' href=\"/app/\xe9\xff\">".as_slice(),
        b"\xc3(<img src=/app/\x80x>\xf0\x9f",
    ]
    .concat();
    for size in 1..=page.len() {
        assert_eq!(rewrite(page.chunks(size), backend_to_app).0, expected);
    }
}

/// Random markup-like bytes: tags of the set and others, quotes, comments, raw text, stray
/// delimiters and bytes that are not UTF-8.
fn random_page(rng: &mut Rng) -> Vec<u8> {
    const PIECES: &[&str] = &[
        "<a href=\"http://backend.local/x\">",
        "<a href='/y'>",
        "<A HREF=z>",
        "<a href>",
        "<img src=",
        "\"",
        "'",
        "=",
        ">",
        "<",
        "</",
        "/",
        " ",
        "\n",
        "<!--",
        "-->",
        "--",
        "<!",
        "<script>",
        "</script>",
        "<style>",
        "</style ",
        "<title>",
        "</title>",
        "<form action=",
        "http://backend.local/",
        "text",
        "&amp;",
        "<?",
        "<base href=",
        "<p class=c>",
        "</p>",
        "<iframe src=i>",
        "</iframe>",
        "<plaintext>",
        "\u{e9}",
        "<input src=\"s\"/>",
    ];
    let mut page = Vec::new();
    for _ in 0..rng.below(60) {
        if rng.below(10) == 0 {
            page.push(rng.next() as u8);
        } else {
            page.extend_from_slice(rng.pick(PIECES).as_bytes());
        }
    }
    page
}

#[test]
fn random_markup_is_chunking_invariant_and_never_truncated() {
    let mut rng = Rng(0x5eed_b0d1);
    for case in 0..3000 {
        let page = random_page(&mut rng);
        let mut replaced = 0;
        let (whole, _) = rewrite([page.as_slice()], |_: &str, _: &str, v: &[u8]| {
            replaced += v.len();
            Some(b"R".to_vec())
        });
        assert!(
            whole.len() + replaced >= page.len(),
            "case {case} truncated: {page:?}"
        );
        let identical = rewrite([page.as_slice()], |_: &str, _: &str, _: &[u8]| None).0;
        assert_eq!(identical, page, "case {case}");
        let mut chunks = Vec::new();
        let mut rest = page.as_slice();
        while !rest.is_empty() {
            let (head, tail) = rest.split_at(rng.below(rest.len()) + 1);
            chunks.push(head);
            rest = tail;
        }
        let (split, _) = rewrite(chunks, |_: &str, _: &str, _: &[u8]| Some(b"R".to_vec()));
        assert_eq!(split, whole, "case {case}: {page:?}");
    }
}

#[test]
fn fifty_megabytes_stream_with_bounded_state() {
    let page = fixture("mixed.html");
    let expected_page = fixture("mixed.expected.html");
    // Every 64th copy is preceded by a tag too long to hold, which passes unchanged.
    let oversized = format!(
        "<a title=\"{}\" href=\"http://backend.local/long\">",
        "t".repeat(MAX_TAG_BYTES)
    );
    let mut body = Vec::with_capacity(50 << 20);
    let mut expected = Vec::with_capacity(50 << 20);
    let mut copies = 0u64;
    while body.len() < 50 << 20 {
        if copies % 64 == 0 {
            body.extend_from_slice(oversized.as_bytes());
            expected.extend_from_slice(oversized.as_bytes());
        }
        body.extend_from_slice(&page);
        expected.extend_from_slice(&expected_page);
        copies += 1;
    }
    let (out, stats) = rewrite(body.chunks(64 * 1024), backend_to_app);
    assert!(
        out == expected,
        "50 MB output differs from the expected rewrite"
    );
    assert_eq!(stats.values_rewritten, 21 * copies);
    assert_eq!(stats.tags_too_long, copies.div_ceil(64));
    assert!(
        stats.max_held <= MAX_TAG_BYTES,
        "held {} bytes",
        stats.max_held
    );
}

#[test]
fn a_fifty_megabyte_tag_passes_unchanged_with_bounded_state() {
    let mut body = b"<a href=\"http://backend.local/".to_vec();
    body.resize(50 << 20, b'x');
    let (out, stats) = rewrite(body.chunks(64 * 1024), backend_to_app);
    assert!(out == body);
    assert_eq!(stats.tags_too_long, 1);
    assert!(stats.max_held <= MAX_TAG_BYTES);
}
