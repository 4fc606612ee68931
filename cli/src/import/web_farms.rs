//! ARR server farms (`<webFarms>`): servers, health checks, load balancing, affinity.

use std::collections::HashMap;

use iis_rewrite_filter::config::{Affinity, FarmServer, HealthCheck, LoadBalancing, WebFarm};
use roxmltree::Node;

use super::collection::{Coll, Entry};
use super::vocab::{canon, LB_ALGORITHM};
use super::xml::{join, Doc, Spans};
use super::Importer;

impl Importer<'_> {
    /// `<webFarms>`: `<webFarm>` entries (a collection keyed by name, with `<clear/>` and
    /// `<remove/>`), and the farm-wide `<applicationRequestRouting>` settings (not imported).
    pub(super) fn web_farms(&mut self, d: &mut Doc<'_, '_>, node: Node<'_, '_>) {
        let tag = "<webFarms>";
        let a = self.attrs(d, node, tag, &[]);
        self.farms.pos.get_or_insert(a.elem);
        let mut coll = std::mem::replace(&mut self.farms, Coll::new("webFarm", false));
        for child in self.elements(d, node, tag) {
            if self.clear_remove(d, child, &mut coll, "name", tag) {
                continue;
            }
            match child.tag_name().name() {
                "webFarm" => {
                    if let Some(entry) = self.web_farm(d, child) {
                        Self::add_entry(&mut coll, entry, &mut self.diags, self.files);
                    }
                }
                "applicationRequestRouting" => {
                    let pos = d.node_pos(child);
                    self.warn(
                        pos,
                        "<webFarms><applicationRequestRouting> (server-wide ARR settings) is \
                         not imported",
                    );
                }
                _ => self.unknown_element(
                    d,
                    child,
                    tag,
                    &["webFarm", "applicationRequestRouting", "clear", "remove"],
                ),
            }
        }
        self.farms = coll;
    }

    pub(super) fn web_farm(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
    ) -> Option<Entry<WebFarm>> {
        let tag = "<webFarm>";
        let a = self.attrs(d, node, tag, &["name", "enabled"]);
        let name = self.key_attr(&a, "name", tag)?;
        let name = self.trimmed_attr(&a, "name", tag).unwrap_or(name);
        let what = format!("webFarm \"{name}\"");
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut farm = WebFarm {
            name: name.clone(),
            enabled: self.bool_attr(&a, "enabled", &what),
            ..WebFarm::default()
        };
        let mut servers: Coll<FarmServer> = Coll::new("server", false);
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            if self.clear_remove(d, child, &mut servers, "address", &what) {
                continue;
            }
            match child.tag_name().name() {
                "server" => {
                    if let Some(entry) = self.farm_server(d, child, &what) {
                        Self::add_entry(&mut servers, entry, &mut self.diags, self.files);
                    }
                }
                "applicationRequestRouting" => {
                    if self.once(d, &mut seen, child, &what) {
                        self.farm_arr(d, child, &what, &mut farm, &mut spans);
                    }
                }
                _ => self.unknown_element(
                    d,
                    child,
                    &what,
                    &["server", "applicationRequestRouting", "clear", "remove"],
                ),
            }
        }
        farm.servers = servers.into_values("servers", |path, pos| spans.push((path, pos)));
        Some(Entry {
            key: name,
            key_pos: a.pos("name"),
            value: farm,
            spans,
        })
    }

    /// `<server address enabled>` with its `<applicationRequestRouting httpPort httpsPort weight
    /// hostName …>`; the child's attributes are recorded under the server (the JSON model keeps
    /// them on the server).
    pub(super) fn farm_server(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        farm: &str,
    ) -> Option<Entry<FarmServer>> {
        let what = format!("{farm} <server>");
        let a = self.attrs(d, node, &what, &["address", "enabled"]);
        let address = self.key_attr(&a, "address", &what)?;
        let address = self.trimmed_attr(&a, "address", &what).unwrap_or(address);
        let mut spans = Spans::new();
        a.spans_into(&mut spans, "");
        let mut server = FarmServer {
            address: address.clone(),
            enabled: self.bool_attr(&a, "enabled", &what),
            ..FarmServer::default()
        };
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            if child.tag_name().name() != "applicationRequestRouting" {
                self.unknown_element(d, child, &what, &["applicationRequestRouting"]);
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            let w = format!("{what} <applicationRequestRouting>");
            let c = self.attrs(
                d,
                child,
                &w,
                &[
                    "httpPort",
                    "httpsPort",
                    "weight",
                    "hostName",
                    "healthCheckAlternateHostName",
                    "healthCheckAlternatePort",
                ],
            );
            for (name, _, pos) in &c.list {
                spans.push((name.clone(), *pos));
            }
            server.http_port = self.port_attr(&c, "httpPort", &w);
            server.https_port = self.port_attr(&c, "httpsPort", &w);
            server.weight = self.uint_attr(&c, "weight", &w);
            server.host_name = c.string("hostName").filter(|h| !h.trim().is_empty());
            self.not_imported(
                &c,
                &["healthCheckAlternateHostName", "healthCheckAlternatePort"],
                &w,
            );
            self.no_children(d, child, &w);
        }
        Some(Entry {
            key: address,
            key_pos: a.pos("address"),
            value: server,
            spans,
        })
    }

    /// A farm's `<applicationRequestRouting>`: `<protocol>`, `<healthCheck>`, `<affinity>`,
    /// `<loadBalancing>`.
    pub(super) fn farm_arr(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        farm_what: &str,
        farm: &mut WebFarm,
        spans: &mut Spans,
    ) {
        let what = format!("{farm_what} <applicationRequestRouting>");
        self.attrs(d, node, &what, &[]);
        let mut seen = HashMap::new();
        for child in self.elements(d, node, &what) {
            let name = child.tag_name().name();
            let known = ["protocol", "healthCheck", "affinity", "loadBalancing"];
            if !known.contains(&name) {
                self.unknown_element(d, child, &what, &known);
                continue;
            }
            if !self.once(d, &mut seen, child, &what) {
                continue;
            }
            let w = format!("{farm_what} <{name}>");
            let mut rel = Spans::new();
            match name {
                "protocol" => {
                    let (settings, s) = self.proxy_settings(d, child, &w, &w);
                    rel = s;
                    farm.protocol = Some(settings);
                }
                "healthCheck" => {
                    farm.health_check = Some(self.health_check(d, child, &w, &mut rel))
                }
                "affinity" => farm.affinity = Some(self.affinity(d, child, &w, &mut rel)),
                _ => farm.load_balancing = Some(self.load_balancing(d, child, &w, &mut rel)),
            }
            for (r, pos) in rel {
                spans.push((join(name, &r), pos));
            }
        }
    }

    /// A farm's `<healthCheck>`.
    fn health_check(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        w: &str,
        rel: &mut Spans,
    ) -> HealthCheck {
        let a = self.attrs(
            d,
            node,
            w,
            &[
                "url",
                "interval",
                "timeout",
                "statusCodeMatch",
                "responseMatch",
                "retries",
                "liveTrafficFailureCodes",
                "maxLiveTrafficFailures",
                "liveTrafficFailurePeriod",
                "minServers",
            ],
        );
        a.spans_into(rel, "");
        for t in ["interval", "timeout"] {
            if let Some(v) = a.string(t) {
                self.timespan_check(&a, t, &v, w);
            }
        }
        let check = HealthCheck {
            url: a.string("url"),
            interval: a.string("interval"),
            timeout: a.string("timeout"),
            status_code_match: a.string("statusCodeMatch"),
            response_match: a.string("responseMatch"),
            retries: self.uint_attr(&a, "retries", w),
        };
        self.not_imported(
            &a,
            &[
                "liveTrafficFailureCodes",
                "maxLiveTrafficFailures",
                "liveTrafficFailurePeriod",
                "minServers",
            ],
            w,
        );
        self.no_children(d, node, w);
        check
    }

    /// A farm's `<affinity>` (cookie affinity; host-name affinity is reported, not imported).
    fn affinity(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        w: &str,
        rel: &mut Spans,
    ) -> Affinity {
        let a = self.attrs(
            d,
            node,
            w,
            &["useCookie", "cookieName", "timeout", "useHostName"],
        );
        a.spans_into(rel, "");
        if let Some(v) = a.string("timeout") {
            self.timespan_check(&a, "timeout", &v, w);
        }
        let affinity = Affinity {
            use_cookie: self.bool_attr(&a, "useCookie", w),
            cookie_name: a.string("cookieName"),
            timeout: a.string("timeout"),
        };
        if self.bool_attr(&a, "useHostName", w) == Some(true) {
            let pos = a.pos("useHostName");
            self.warn(
                pos,
                format!(
                    "{w} attribute useHostName: host-name affinity is not \
                     imported (cookie affinity is)"
                ),
            );
        }
        self.no_children(d, node, w);
        affinity
    }

    /// A farm's `<loadBalancing>`.
    fn load_balancing(
        &mut self,
        d: &Doc<'_, '_>,
        node: Node<'_, '_>,
        w: &str,
        rel: &mut Spans,
    ) -> LoadBalancing {
        let a = self.attrs(
            d,
            node,
            w,
            &["algorithm", "hashServerVariable", "queryStringNames"],
        );
        a.spans_into(rel, "");
        let balancing = LoadBalancing {
            algorithm: canon(a.get("algorithm"), &LB_ALGORITHM),
            hash_server_variable: a.string("hashServerVariable"),
            query_string_names: a.string("queryStringNames"),
        };
        self.no_children(d, node, w);
        balancing
    }
}
