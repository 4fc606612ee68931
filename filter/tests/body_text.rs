//! The body-text rewriter (outbound rules without serverVariable or filterByTags): the same
//! result as a whole-body replacement for matches up to the documented length, whatever the
//! chunking, with windows that never cut a UTF-8 character and bounded state.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use iis_rewrite_filter::body::{TextMatch, TextRewriter, TextStats, MAX_MATCH_BYTES, TEXT_WINDOW};
use regex_lite::Regex;

/// A rule's pattern and constant replacement, the way the outbound engine would plug in.
fn rule<'r>(re: &'r Regex, with: &'r str) -> impl FnMut(&[u8], usize) -> Option<TextMatch> + 'r {
    move |haystack, from| {
        let text = std::str::from_utf8(haystack).expect("a window ends on a character boundary");
        let found = re.find_at(text, from)?;
        Some(TextMatch {
            range: found.range(),
            replacement: Some(with.as_bytes().to_vec()),
        })
    }
}

fn stream<'a>(
    re: &Regex,
    with: &str,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<u8>, TextStats) {
    let mut rewriter = TextRewriter::new(rule(re, with), true);
    let mut out = Vec::new();
    for chunk in chunks {
        rewriter.feed(chunk, &mut out);
        assert!(rewriter.held_bytes() <= TEXT_WINDOW);
    }
    rewriter.finish(&mut out);
    assert_eq!(rewriter.held_bytes(), 0);
    (out, rewriter.stats())
}

/// A body of `len` bytes of multi-byte text with `</head>` and backend links scattered so that
/// many matches straddle window and chunk boundaries.
fn body(len: usize) -> String {
    let pieces = [
        "h\u{e9}llo ",
        "\u{1f600} ",
        "</head>",
        "http://backend.local/x ",
        "caf\u{e9} ",
        "\u{4e2d}\u{6587}",
    ];
    let mut text = String::new();
    let mut i = 0usize;
    while text.len() < len {
        text.push_str(pieces[i * 7 % pieces.len()]);
        i += 1;
    }
    text
}

#[test]
fn short_matches_are_replaced_as_in_the_whole_body() {
    let re = Regex::new(r"</head>|http://backend\.local/").unwrap();
    let text = body(3 * TEXT_WINDOW + 1234);
    let expected = re.replace_all(&text, "[R]");
    for size in [1, 1000, 4096, 65_535, TEXT_WINDOW, 100_000, text.len()] {
        let (out, stats) = stream(&re, "[R]", text.as_bytes().chunks(size));
        assert!(out == expected.as_bytes(), "chunks of {size}");
        assert_eq!(stats.replaced, re.find_iter(&text).count() as u64);
    }
}

#[test]
fn every_split_point_of_a_small_body_gives_the_one_chunk_result() {
    let re = Regex::new(r"</HEAD>|b\w+d").unwrap();
    let text = "<html><head><title>caf\u{e9}</title></HEAD><body>bad bed \u{1f600}</body>";
    let whole = stream(&re, "<x>", [text.as_bytes()]).0;
    assert_eq!(
        String::from_utf8(whole.clone()).unwrap(),
        re.replace_all(text, "<x>")
    );
    for at in 0..=text.len() {
        let (head, tail) = text.as_bytes().split_at(at);
        assert_eq!(stream(&re, "<x>", [head, tail]).0, whole, "split at {at}");
    }
}

#[test]
fn a_match_longer_than_the_limit_may_be_cut_at_a_window_edge() {
    // The documented limit, pinned: a match that spans more than MAX_MATCH_BYTES across a
    // window edge is not found whole. A body that fits one window is matched as IIS would.
    let re = Regex::new(r"<!--[^>]*-->").unwrap();
    let long_comment = format!("<!--{}-->", "c".repeat(2 * MAX_MATCH_BYTES));
    let mut text = "x".repeat(TEXT_WINDOW - MAX_MATCH_BYTES - 10);
    text.push_str(&long_comment);
    text.push_str(&"y".repeat(TEXT_WINDOW));
    let (out, stats) = stream(&re, "", [text.as_bytes()]);
    assert_eq!(stats.replaced, 0);
    assert!(out == text.as_bytes());
    let small = format!("a{long_comment}b");
    assert_eq!(stream(&re, "", [small.as_bytes()]).0, b"ab");
}

#[test]
fn a_large_body_streams_with_bounded_state() {
    // 16 MB: regex-lite in a debug build is the slow part; the tag tests stream 50 MB.
    let re = Regex::new(r"</head>").unwrap();
    let text = body(16 << 20);
    let (out, stats) = stream(
        &re,
        "<script src=/x.js></script></head>",
        text.as_bytes().chunks(16 * 1024),
    );
    let expected = re.replace_all(&text, "<script src=/x.js></script></head>");
    assert!(out == expected.as_bytes());
    assert!(stats.max_held <= TEXT_WINDOW);
}

#[test]
fn unmatched_bodies_and_non_utf8_bytes_pass_unchanged() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3 * TEXT_WINDOW + 17).collect();
    let mut rewriter = TextRewriter::new(|_: &[u8], _: usize| None, false);
    let mut out = Vec::new();
    for chunk in bytes.chunks(999) {
        rewriter.feed(chunk, &mut out);
    }
    rewriter.finish(&mut out);
    assert!(out == bytes);
}
