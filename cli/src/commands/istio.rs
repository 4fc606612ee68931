//! `iis-rewrite istio`: an Istio WasmPlugin manifest whose pluginConfig is this configuration,
//! and with `--route-host` the VirtualService and ServiceEntries its proxy rules need.
//! The generator itself is [`crate::istio`].

use std::path::PathBuf;

use clap::Args;

use super::{load_and_report, write_output, Input};
use crate::istio;

#[derive(Debug, Args)]
pub struct IstioCommandArgs {
    #[command(flatten)]
    pub input: Input,
    #[command(flatten)]
    pub opts: istio::IstioArgs,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
}

/// Renders the manifest (and with --route-host the mesh routes); exit 2 for a bad option
/// value, 1 for a refused configuration.
pub fn run(args: IstioCommandArgs) -> u8 {
    let IstioCommandArgs {
        input,
        opts,
        output,
    } = args;
    if input.server.applicationhost.is_some() {
        eprintln!(
            "error: istio takes one site's configuration: give FILE (a WasmPlugin per site; \
             `iis-rewrite import --applicationhost … --site NAME` writes one site's JSON)"
        );
        return 2;
    }
    let loaded = load_and_report(&input);
    let (Some(config), Some(engine)) = (loaded.config.as_ref(), loaded.engine.as_ref()) else {
        return 1;
    };
    if loaded.has_errors() {
        return 1;
    }
    let mesh = match opts.mesh_routes() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let mut plugin = config.clone();
    if mesh.is_some() {
        // The route sets the upstream's Host: the filter keeps the client's, so that the
        // proxy still selects this VirtualService's virtual host after the filter ran.
        plugin
            .proxy
            .get_or_insert_with(Default::default)
            .preserve_host_header = Some(true);
    }
    let json = match serde_json::to_string_pretty(&plugin) {
        Ok(json) => json,
        Err(e) => {
            eprintln!("error: cannot serialise the configuration: {e}");
            return 1;
        }
    };
    let source = input.path().display().to_string();
    match istio::render(&json, &source, &opts) {
        Ok(mut yaml) => {
            if let Some(mesh) = &mesh {
                let preserve = config
                    .proxy
                    .as_ref()
                    .and_then(|p| p.preserve_host_header)
                    .unwrap_or(false);
                yaml.push_str(&istio::routes::render(
                    &opts.name,
                    opts.namespace.as_deref(),
                    mesh,
                    engine.upstreams(),
                    engine.upstream_header(),
                    preserve,
                ));
                for (farm, _, cluster) in engine.farm_clusters() {
                    eprintln!(
                        "{source}: warning: farm {farm:?} ({cluster}) has no mesh route: route \
                         to its servers with a VirtualService of your own"
                    );
                }
                if !engine.dynamic_upstreams().is_empty() {
                    eprintln!(
                        "{source}: warning: proxy.dynamicUpstreams has no mesh route: the \
                         dynamic forward proxy is only set up by `iis-rewrite envoy`"
                    );
                }
            }
            write_output(output.as_deref(), &yaml)
        }
        Err(e @ istio::IstioError::Config(_)) => {
            eprintln!("{source}: error: {e}");
            1
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}
