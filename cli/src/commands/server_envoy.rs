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
    let mut listeners: Vec<BindingListener> = Vec::new();
    // Per listener: the certificates its HTTPS bindings use, and for which host name.
    let mut uses: Vec<Vec<(&CertificateArg, Option<&str>)>> = Vec::new();
    let mut keys: Vec<(Option<IpAddr>, u16)> = Vec::new();
    for site in loaded.sites.iter() {
        for b in &site.def.bindings {
            let at = format!(
                "{}:{}:{}",
                loaded.files.name(b.pos.file),
                b.pos.line,
                b.pos.col
            );
            let Some(e) = &b.endpoint else {
                let why = unserved_reason(b).unwrap_or_default();
                eprintln!(
                    "{at}: warning: site {} binding {} is not served: {why}",
                    quote(&site.def.name),
                    b.describe()
                );
                continue;
            };
            let cert = if e.https {
                let wanted = e.host.as_deref().unwrap_or("*");
                let found = certificates
                    .iter()
                    .find(|c| c.host == wanted)
                    .or_else(|| certificates.iter().find(|c| c.host == "*"));
                match found {
                    Some(c) => Some(c),
                    None => {
                        eprintln!(
                            "{at}: warning: site {} binding {} is not served: its certificate is \
                             in the Windows certificate store; name its PEM files with \
                             --certificate {wanted}=CERT,KEY",
                            quote(&site.def.name),
                            b.describe()
                        );
                        continue;
                    }
                }
            } else {
                None
            };
            let address = binds
                .iter()
                .find(|(p, _)| *p == e.port)
                .map(|(_, a)| *a)
                .unwrap_or_else(|| {
                    SocketAddr::new(e.ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), e.port)
                });
            let scheme = if e.https { "https" } else { "http" };
            // Bindings share a listener when IIS would put them on one endpoint (IP and port).
            let index = match keys.iter().position(|k| *k == (e.ip, e.port)) {
                Some(i) => i,
                None => {
                    if address.port() != 0 && listeners.iter().any(|l| l.address == address) {
                        return Err(format!(
                            "{at}: error: site {} binding {}: another IIS endpoint listens on {address} \
                             already; give --bind for this port an address of its own",
                            quote(&site.def.name),
                            b.describe()
                        ));
                    }
                    keys.push((e.ip, e.port));
                    listeners.push(BindingListener {
                        name: listener_name(scheme, e.ip, e.port),
                        address,
                        certificates: Vec::new(),
                        hosts: Vec::new(),
                    });
                    uses.push(Vec::new());
                    listeners.len() - 1
                }
            };
            let Some(l) = listeners.get_mut(index) else {
                continue;
            };
            let was_https = uses.get(index).is_some_and(|u| !u.is_empty());
            if was_https != cert.is_some() && !l.hosts.is_empty() {
                return Err(format!(
                    "{at}: error: site {} binding {}: HTTP and HTTPS bindings on one IP and port; IIS \
                     refuses them too",
                    quote(&site.def.name),
                    b.describe()
                ));
            }
            let domains = match &e.host {
                Some(h) => vec![h.clone(), format!("{h}:{}", e.port)],
                None => vec!["*".to_string()],
            };
            if let Some((other, _)) = l
                .hosts
                .iter()
                .find(|(_, d)| domains.first().is_some_and(|x| d.contains(x)))
            {
                return Err(format!(
                    "{at}: error: site {} binding {}: the same host name and port are bound by rule set \
                     {} already; IIS refuses duplicate bindings",
                    quote(&site.def.name),
                    b.describe(),
                    quote(other)
                ));
            }
            if let (Some(c), Some(u)) = (cert, uses.get_mut(index)) {
                u.push((c, e.host.as_deref()));
                if e.host.is_none() {
                    // A binding for every host name: each named certificate is chosen by SNI
                    // for its host, the `*` one for the rest.
                    for named in certificates.iter().filter(|n| n.host != "*") {
                        u.push((named, Some(named.host.as_str())));
                    }
                }
            }
            // One virtual host per site and listener (Envoy picks the most specific domain
            // whatever the order, and refuses two virtual hosts of one name).
            match l.hosts.iter_mut().find(|(set, _)| *set == site.rule_set) {
                Some((_, d)) => d.extend(domains),
                None => l.hosts.push((site.rule_set.clone(), domains)),
            }
        }
    }
    for (l, u) in listeners.iter_mut().zip(&uses) {
        l.certificates = listener_certificates(u);
    }
    if listeners.is_empty() {
        return Err(format!(
            "{}: error: no site has a binding Envoy can serve (HTTP, or HTTPS with \
             --certificate)",
            loaded.source
        ));
    }
    Ok(listeners)
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
