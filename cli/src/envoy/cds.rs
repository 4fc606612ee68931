//! Hot reload of upstreams (`--ecds DIR`): the clusters the rules reach are delivered by CDS
//! from a file in the same watched directory as the filter's ECDS file (Envoy's filesystem
//! subscriptions, `path_config_source` with `watched_directory`). A new configuration that
//! reaches new hosts then applies without a restart: the command writes the clusters first and
//! the rules second, each by an atomic rename. Envoy leaves a cluster whose definition did not
//! change alone, so connections and WebSockets on it stay open; a file Envoy refuses is
//! rejected whole (`cluster_manager.cds.update_rejected`) and the old clusters stay.

use std::path::{Path, PathBuf};

use super::{child_mut, connection_managers};
use crate::yaml::Y;

/// The CDS file beside the ECDS file.
pub const CDS_FILE: &str = "iis-rewrite-clusters.yaml";
const CLUSTER_TYPE: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// Moves the bootstrap's clusters into a CDS file next to `ecds_file` and points the bootstrap
/// at it. Returns the file to write (path, contents).
pub fn deliver_clusters(doc: &mut Y, ecds_file: &Path) -> (PathBuf, String) {
    let dir = ecds_file.parent().unwrap_or(Path::new("/"));
    let file = dir.join(CDS_FILE);
    let mut clusters = Vec::new();
    if let Some(Y::Map(resources)) = child_mut(doc, "static_resources") {
        if let Some(pos) = resources.iter().position(|(k, _)| k == "clusters") {
            if let (_, Y::Seq(list)) = resources.remove(pos) {
                clusters = list;
            }
        }
        // Static routes name clusters that only CDS delivers.
        for (key, value) in resources.iter_mut() {
            if let ("listeners", Y::Seq(listeners)) = (key.as_str(), value) {
                for listener in listeners {
                    for hcm in connection_managers(listener) {
                        if let Some(rc) = child_mut(hcm, "route_config") {
                            rc.set("validate_clusters", false);
                        }
                    }
                }
            }
        }
    }
    let resources: Vec<Y> = clusters
        .into_iter()
        .map(|c| {
            let mut r = Y::map().with("@type", CLUSTER_TYPE);
            if let Y::Map(entries) = c {
                for (k, v) in entries {
                    r.set(&k, v);
                }
            }
            r
        })
        .collect();
    doc.set(
        "dynamic_resources",
        Y::map().with(
            "cds_config",
            Y::map()
                .with(
                    "path_config_source",
                    Y::map().with("path", file.display().to_string()).with(
                        "watched_directory",
                        Y::map().with("path", dir.display().to_string()),
                    ),
                )
                .with("resource_api_version", "V3"),
        ),
    );
    let text = format!(
        "# Clusters of the iis-rewrite rules, delivered to Envoy by CDS (written by `iis-rewrite \
         envoy --ecds` {}).\n# Written before the rules file; replace it atomically (write a file \
         in this directory, then rename it over this one).\n{}",
        iis_rewrite_filter::VERSION,
        Y::map().with("resources", resources).to_yaml()
    );
    (file, text)
}

/// Writes the CDS file atomically (a temporary file in the same directory, then a rename).
pub fn write_cds(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{CDS_FILE}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
