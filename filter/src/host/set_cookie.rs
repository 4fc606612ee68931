//! ARR's reverse rewrite of `Set-Cookie` domains (`reverseRewriteHostInResponseHeaders`) for a
//! proxied response: every `Set-Cookie` whose `Domain=` names the backend gets the client's Host.
//!
//! A response may carry several `Set-Cookie` headers and a single-header write keeps one value,
//! so when a domain changes all of them are written again, in order: the header is removed and
//! each value added back (`proxy_add_header_map_value` keeps repeated names). A response without
//! `Set-Cookie`, or whose cookies carry no `Domain`, costs no write.

use crate::engine::decision::ClientOrigin;
use crate::engine::evaluate::outbound::set_cookie_for_client;
use crate::engine::response::ResponseFacts;
use crate::host::{HeaderMap, Host};

/// Rewrites the `Domain=` of every `Set-Cookie` of the response to the client's Host.
/// `read` is every response header when the stream already read them in one call (then no
/// second read is made).
pub fn reverse_rewrite(
    host: &dyn Host,
    response: &dyn ResponseFacts,
    read: Option<&HeaderMap>,
    origin: &ClientOrigin,
) {
    if response.header("set-cookie").is_none() {
        return;
    }
    let fetched;
    let all = match read {
        Some(all) => all,
        None => {
            fetched = host.response_headers();
            &fetched
        }
    };
    let cookies: Vec<&[u8]> = all
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(b"set-cookie"))
        .map(|(_, value)| value)
        .collect();
    let rewritten: Vec<Option<Vec<u8>>> = cookies
        .iter()
        .map(|c| set_cookie_for_client(c, origin))
        .collect();
    if rewritten.iter().all(Option::is_none) {
        return;
    }
    host.set_response_header("set-cookie", None);
    for (cookie, new) in cookies.iter().zip(&rewritten) {
        host.add_response_header("set-cookie", new.as_deref().unwrap_or(cookie));
    }
}

#[cfg(test)]
mod tests {
    use crate::host::recording::*;

    const PROXY: &str = r#"{"rules": [{"name": "p", "match": {"url": "(.*)"},
        "action": {"type": "Rewrite", "url": "http://backend.local:8080/{R:1}"}}]}"#;

    #[test]
    fn every_cookie_is_kept_and_domains_name_the_client_host() {
        let mut s = stream(PROXY);
        let host = RecordingHost::request("/login", "public.example");
        s.on_request_headers(&host);
        *host.response.borrow_mut() = vec![
            (":status".into(), b"200".to_vec()),
            (
                "set-cookie".into(),
                b"a=1; Domain=.backend.local; Path=/".to_vec(),
            ),
            ("set-cookie".into(), b"b=2; Path=/".to_vec()),
            ("set-cookie".into(), b"c=3; domain=backend.local".to_vec()),
        ];
        s.on_response_headers(&host);
        let cookies: Vec<String> = host
            .response
            .borrow()
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
            .collect();
        assert_eq!(
            cookies,
            [
                "a=1; Domain=.public.example; Path=/",
                "b=2; Path=/",
                "c=3; Domain=public.example"
            ]
        );
    }

    #[test]
    fn cookies_without_a_domain_cost_no_write() {
        let mut s = stream(PROXY);
        let host = RecordingHost::request("/", "public.example");
        s.on_request_headers(&host);
        *host.response.borrow_mut() = vec![
            (":status".into(), b"200".to_vec()),
            ("set-cookie".into(), b"b=2; Path=/".to_vec()),
        ];
        s.on_response_headers(&host);
        assert_eq!(host.calls_of("set_response_header"), 0);
        assert_eq!(host.calls_of("add_response_header"), 0);
    }
}
