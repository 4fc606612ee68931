//! A host that answers from fixed values and records every call: the stream tests count and
//! check host calls against it.

use super::stream::*;
use super::*;
use crate::engine::config::FilterConfig;
use crate::engine::model::Engine;
use std::cell::RefCell;
use std::rc::Rc;

/// A local reply: status, headers, body.
pub type Sent = (u32, Vec<(String, String)>, Vec<u8>);

/// A host that answers from fixed values and records every call.
#[derive(Default)]
pub struct RecordingHost {
    pub request: RefCell<Vec<(String, Vec<u8>)>>,
    pub response: RefCell<Vec<(String, Vec<u8>)>>,
    pub properties: Vec<(Vec<&'static str>, Vec<u8>)>,
    pub calls: RefCell<Vec<String>>,
    pub sent: RefCell<Option<Sent>>,
    pub reset: RefCell<bool>,
    /// The response body chunk Envoy holds now.
    pub body: RefCell<Vec<u8>>,
    /// Reading the body chunk fails.
    pub unreadable_body: RefCell<bool>,
}

impl RecordingHost {
    pub fn request(path: &str, host: &str) -> Self {
        RecordingHost {
            request: RefCell::new(vec![
                (":path".into(), path.into()),
                (":authority".into(), host.into()),
                (":method".into(), b"GET".to_vec()),
            ]),
            properties: vec![
                (vec!["source", "address"], b"192.0.2.7:41000".to_vec()),
                (vec!["destination", "address"], b"127.0.0.1:8080".to_vec()),
            ],
            ..Default::default()
        }
    }
    pub fn calls_of(&self, prefix: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
    pub fn req(&self, name: &str) -> Option<String> {
        self.request
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// The headers as the host would hand them over in one read.
fn map_of(list: &[(String, Vec<u8>)]) -> HeaderMap {
    HeaderMap::from_pairs(list.iter().map(|(n, v)| (n.as_str(), v.as_slice())))
}

fn set(list: &RefCell<Vec<(String, Vec<u8>)>>, name: &str, value: Option<&str>) {
    let mut l = list.borrow_mut();
    l.retain(|(n, _)| n != name);
    if let Some(v) = value {
        l.push((name.to_string(), v.as_bytes().to_vec()));
    }
}

impl Host for RecordingHost {
    fn request_header(&self, name: &str) -> Option<Vec<u8>> {
        self.calls
            .borrow_mut()
            .push(format!("get_request_header {name}"));
        self.request
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
    fn request_headers(&self) -> HeaderMap {
        self.calls.borrow_mut().push("get_request_headers".into());
        map_of(&self.request.borrow())
    }
    fn set_request_header(&self, name: &str, value: Option<&str>) {
        self.calls
            .borrow_mut()
            .push(format!("set_request_header {name}"));
        set(&self.request, name, value);
    }
    fn add_request_header(&self, name: &str, value: &str) {
        self.calls
            .borrow_mut()
            .push(format!("add_request_header {name}"));
        self.request
            .borrow_mut()
            .push((name.to_string(), value.as_bytes().to_vec()));
    }
    fn property(&self, path: &[&str]) -> Option<Vec<u8>> {
        self.calls
            .borrow_mut()
            .push(format!("get_property {}", path.join(".")));
        self.properties
            .iter()
            .find(|(p, _)| p.as_slice() == path)
            .map(|(_, v)| v.clone())
    }
    fn response_header(&self, name: &str) -> Option<Vec<u8>> {
        self.calls
            .borrow_mut()
            .push(format!("get_response_header {name}"));
        self.response
            .borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
    fn response_headers(&self) -> HeaderMap {
        self.calls.borrow_mut().push("get_response_headers".into());
        map_of(&self.response.borrow())
    }
    fn set_response_header(&self, name: &str, value: Option<&str>) {
        self.calls
            .borrow_mut()
            .push(format!("set_response_header {name}"));
        set(&self.response, name, value);
    }
    fn add_response_header(&self, name: &str, value: &[u8]) {
        self.calls
            .borrow_mut()
            .push(format!("add_response_header {name}"));
        self.response
            .borrow_mut()
            .push((name.to_string(), value.to_vec()));
    }
    fn send_response(&self, status: u32, headers: &[(&str, &str)], body: &[u8]) {
        self.calls
            .borrow_mut()
            .push(format!("send_response {status}"));
        *self.sent.borrow_mut() = Some((
            status,
            headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body.to_vec(),
        ));
    }
    fn reset_stream(&self) {
        self.calls.borrow_mut().push("reset_stream".into());
        *self.reset.borrow_mut() = true;
    }
    fn add_to_counter(&self, id: u32, delta: u64) {
        self.calls
            .borrow_mut()
            .push(format!("add_to_counter {id} {delta}"));
    }
    fn response_body(&self, start: usize, size: usize) -> Option<Vec<u8>> {
        self.calls
            .borrow_mut()
            .push(format!("get_response_body {start} {size}"));
        let body = self.body.borrow();
        let end = (start + size).min(body.len());
        (!*self.unreadable_body.borrow()).then(|| body[start.min(end)..end].to_vec())
    }
    fn replace_response_body(&self, size: usize, bytes: &[u8]) {
        self.calls
            .borrow_mut()
            .push(format!("set_response_body {size}"));
        let mut body = self.body.borrow_mut();
        let size = size.min(body.len());
        body.splice(..size, bytes.iter().copied());
    }
    fn body_event(&self, event: body::BodyEvent) {
        self.calls
            .borrow_mut()
            .push(format!("body_event {event:?}"));
    }
}

pub fn stream(json: &str) -> Stream {
    let config = FilterConfig::from_json(json).unwrap();
    Stream::new(Rc::new(Engine::compile(&config).unwrap()))
}
