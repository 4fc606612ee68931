//! `iis-rewrite envoy --applicationhost`: every site's HTTP and HTTPS bindings become listeners
//! and virtual hosts of the multi-site bootstrap ([`crate::envoy::sites`]), each site one rule
//! set (the server's global rules first, then its own rules).
//!
//! IIS keeps certificates in the Windows certificate store, which Envoy cannot read: the user
//! names PEM files per host name with `--certificate HOST=CERT,KEY` (`*` for every other host).
//! An HTTPS binding without one, and bindings of other protocols, are reported and not served.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::diag::quote;
use crate::envoy::sites::{BindingListener, ListenerCertificate};

use super::server::{unserved_reason, LoadedServer};
use crate::import::application_host::Binding;

/// One `--certificate HOST=CERT,KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateArg {
    /// A host name of an HTTPS binding (`*.example.com` allowed), or `*` for every other one.
    pub host: String,
    pub cert: String,
    pub key: String,
}

/// Parses `--certificate HOST=CERT,KEY` (clap value parser).
pub fn parse_certificate(value: &str) -> Result<CertificateArg, String> {
    let usage = || format!("{value:?}: expected HOST=CERT.pem,KEY.pem (HOST a host name or *)");
    let (host, files) = value.split_once('=').ok_or_else(usage)?;
    let (cert, key) = files.split_once(',').ok_or_else(usage)?;
    let host = host.trim().to_ascii_lowercase();
    if host.is_empty() || cert.trim().is_empty() || key.trim().is_empty() {
        return Err(usage());
    }
    Ok(CertificateArg {
        host,
        cert: cert.trim().to_string(),
        key: key.trim().to_string(),
    })
}

/// Parses `--bind PORT=ADDR:PORT` (clap value parser): the IIS port's bindings listen there.
pub fn parse_bind(value: &str) -> Result<(u16, SocketAddr), String> {
    let usage =
        || format!("{value:?}: expected PORT=IP:PORT (an IIS binding port, where to listen)");
    let (port, addr) = value.split_once('=').ok_or_else(usage)?;
    let port: u16 = port.trim().parse().map_err(|_| usage())?;
    let addr: SocketAddr = addr.trim().parse().map_err(|_| usage())?;
    Ok((port, addr))
}

/// The listeners of every served binding, or the diagnostic line saying why no bootstrap can be
/// written. Bindings that are not served are reported on stderr.
pub fn plan(
    loaded: &LoadedServer,
    certificates: &[CertificateArg],
    binds: &[(u16, SocketAddr)],
) -> Result<Vec<BindingListener>, String> {
    let mut plan = Plan {
        certificates,
        binds,
        listeners: Vec::new(),
    };
    for site in &loaded.sites {
        for b in &site.def.bindings {
            let at = format!(
                "{}:{}:{}",
                loaded.files.name(b.pos.file),
                b.pos.line,
                b.pos.col
            );
            let what = format!("site {} binding {}", quote(&site.def.name), b.describe());
            match plan.add(&site.rule_set, b) {
                Ok(()) => {}
                Err(Unserved::Reported(why)) => {
                    eprintln!("{at}: warning: {what} is not served: {why}");
                }
                Err(Unserved::Refused(why)) => return Err(format!("{at}: error: {what}: {why}")),
            }
        }
    }
    if plan.listeners.is_empty() {
        return Err(format!(
            "{}: error: no site has a binding Envoy can serve (HTTP, or HTTPS with \
             --certificate)",
            loaded.source
        ));
    }
    Ok(plan
        .listeners
        .into_iter()
        .map(|(mut l, p)| {
            l.certificates = listener_certificates(&p.uses);
            l
        })
        .collect())
}

/// Why a binding is not in the plan: left out with a warning, or the whole server refused.
enum Unserved {
    Reported(String),
    Refused(String),
}

/// The listeners being planned, each with what only planning needs.
struct Plan<'a> {
    certificates: &'a [CertificateArg],
    binds: &'a [(u16, SocketAddr)],
    listeners: Vec<(BindingListener, Planned<'a>)>,
}

struct Planned<'a> {
    /// The IIS endpoint (IP, `None` for `*`, and port) whose bindings share the listener.
    endpoint: (Option<IpAddr>, u16),
    https: bool,
    /// The certificates its HTTPS bindings use, and for which host name.
    uses: Vec<(&'a CertificateArg, Option<&'a str>)>,
}

impl<'a> Plan<'a> {
    fn add(&mut self, rule_set: &str, b: &'a Binding) -> Result<(), Unserved> {
        let Some(e) = &b.endpoint else {
            return Err(Unserved::Reported(unserved_reason(b).unwrap_or_default()));
        };
        let cert = if e.https {
            Some(self.certificate(e.host.as_deref())?)
        } else {
            None
        };
        let certificates = self.certificates;
        let (listener, planned) = self.listener(e.ip, e.port, e.https)?;
        let domains = match &e.host {
            Some(h) => vec![h.clone(), format!("{h}:{}", e.port)],
            None => vec!["*".to_string()],
        };
        if let Some((other, _)) = listener
            .hosts
            .iter()
            .find(|(_, d)| domains.first().is_some_and(|x| d.contains(x)))
        {
            return Err(Unserved::Refused(format!(
                "the same host name and port are bound by rule set {} already; IIS refuses \
                 duplicate bindings",
                quote(other)
            )));
        }
        if let Some(c) = cert {
            planned.uses.push((c, e.host.as_deref()));
            if e.host.is_none() {
                // A binding for every host name: each named certificate is chosen by SNI for
                // its host, the `*` one for the rest.
                for named in certificates.iter().filter(|n| n.host != "*") {
                    planned.uses.push((named, Some(named.host.as_str())));
                }
            }
        }
        // One virtual host per site and listener (Envoy picks the most specific domain whatever
        // the order, and refuses two virtual hosts of one name).
        match listener.hosts.iter_mut().find(|(set, _)| set == rule_set) {
            Some((_, d)) => d.extend(domains),
            None => listener.hosts.push((rule_set.to_string(), domains)),
        }
        Ok(())
    }

    /// The `--certificate` of an HTTPS binding for `host` (`None`: every host name).
    fn certificate(&self, host: Option<&str>) -> Result<&'a CertificateArg, Unserved> {
        let wanted = host.unwrap_or("*");
        let certificates = self.certificates;
        certificates
            .iter()
            .find(|c| c.host == wanted)
            .or_else(|| certificates.iter().find(|c| c.host == "*"))
            .ok_or_else(|| {
                Unserved::Reported(format!(
                    "its certificate is in the Windows certificate store; name its PEM files \
                     with --certificate {wanted}=CERT,KEY"
                ))
            })
    }

    /// The listener of an IIS endpoint, added on first use: at the binding's own address or at
    /// the `--bind` address of its port.
    fn listener(
        &mut self,
        ip: Option<IpAddr>,
        port: u16,
        https: bool,
    ) -> Result<(&mut BindingListener, &mut Planned<'a>), Unserved> {
        let i = match self
            .listeners
            .iter()
            .position(|(_, p)| p.endpoint == (ip, port))
        {
            Some(i) => i,
            None => {
                let address = self
                    .binds
                    .iter()
                    .find(|(p, _)| *p == port)
                    .map(|(_, a)| *a)
                    .unwrap_or_else(|| {
                        SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port)
                    });
                if address.port() != 0 && self.listeners.iter().any(|(l, _)| l.address == address) {
                    return Err(Unserved::Refused(format!(
                        "another IIS endpoint listens on {address} already; give --bind for this \
                         port an address of its own"
                    )));
                }
                let scheme = if https { "https" } else { "http" };
                self.listeners.push((
                    BindingListener {
                        name: listener_name(scheme, ip, port),
                        address,
                        certificates: Vec::new(),
                        hosts: Vec::new(),
                    },
                    Planned {
                        endpoint: (ip, port),
                        https,
                        uses: Vec::new(),
                    },
                ));
                self.listeners.len() - 1
            }
        };
        match self.listeners.get_mut(i) {
            Some((_, p)) if p.https != https => Err(Unserved::Refused(
                "HTTP and HTTPS bindings on one IP and port; IIS refuses them too".into(),
            )),
            Some((l, p)) => Ok((l, p)),
            None => Err(Unserved::Refused("internal: listener lost".into())),
        }
    }
}

fn listener_name(scheme: &str, ip: Option<IpAddr>, port: u16) -> String {
    match ip {
        None => format!("{scheme}-{port}"),
        Some(ip) => format!(
            "{scheme}-{}-{port}",
            ip.to_string().replace([':', '.'], "_")
        ),
    }
}

/// The certificates of one listener from the uses its HTTPS bindings make of them: a
/// certificate used by a binding for every host name (or given as `*`) is the default chain,
/// any other is chosen by SNI for the host names that use it.
fn listener_certificates(uses: &[(&CertificateArg, Option<&str>)]) -> Vec<ListenerCertificate> {
    let mut out: Vec<(ListenerCertificate, bool)> = Vec::new();
    for (c, host) in uses {
        let default = c.host == "*" || host.is_none();
        let i = match out
            .iter()
            .position(|(x, _)| x.cert == c.cert && x.key == c.key)
        {
            Some(i) => i,
            None => {
                out.push((
                    ListenerCertificate {
                        server_names: Vec::new(),
                        cert: c.cert.clone(),
                        key: c.key.clone(),
                    },
                    false,
                ));
                out.len() - 1
            }
        };
        if let Some((x, is_default)) = out.get_mut(i) {
            *is_default |= default;
            if let (false, Some(h)) = (default, host) {
                if !x.server_names.iter().any(|n| n == h) {
                    x.server_names.push(h.to_string());
                }
            }
        }
    }
    let single = out.len() == 1;
    out.into_iter()
        .map(|(mut c, default)| {
            if default || single {
                c.server_names.clear();
            }
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn option_forms() {
        let c = parse_certificate("Meet.Contoso.com=/c.pem,/k.pem").unwrap();
        assert_eq!(
            (c.host.as_str(), c.cert.as_str(), c.key.as_str()),
            ("meet.contoso.com", "/c.pem", "/k.pem")
        );
        assert!(parse_certificate("a=/c.pem").is_err());
        assert!(parse_certificate("=/c,/k").is_err());
        assert_eq!(
            parse_bind("443=127.0.0.1:8443").unwrap(),
            (443, "127.0.0.1:8443".parse().unwrap())
        );
        assert!(parse_bind("x=127.0.0.1:1").is_err());
        assert!(parse_bind("80=localhost:1").is_err());
    }
}
