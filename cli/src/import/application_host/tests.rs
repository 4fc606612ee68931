#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
use super::*;

/// A server laid out in a fresh directory: applicationHost.config and web.config files at the
/// given paths below it (the directory stands for drive C:).
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(name: &str, apphost: &str, files: &[(&str, &str)]) -> Layout {
        let dir = std::env::temp_dir().join(format!("iis-ah-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("applicationHost.config"), apphost).unwrap();
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Layout { dir }
    }

    fn import(&self, opts: &ServerOptions) -> (ServerImport, Files) {
        let path = self.dir.join("applicationHost.config");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut files = Files::default();
        let f = files.add("applicationHost.config".into());
        let imported = import_server(&text, f, &mut files, &path, opts);
        (imported, files)
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every diagnostic of the server and its sites as `file:line:col: message`, once each.
fn messages(s: &ServerImport, files: &Files) -> Vec<String> {
    let mut all: Vec<String> = s
        .diagnostics
        .iter()
        .chain(s.server.diagnostics.iter())
        .chain(s.sites.iter().flat_map(|x| x.imported.diagnostics.iter()))
        .map(|d| {
            let name = files.name(d.pos.file);
            let file = name.rsplit('/').next().unwrap_or(name);
            format!("{file}:{}:{}: {}", d.pos.line, d.pos.col, d.message)
        })
        .collect();
    all.sort();
    all.dedup();
    all
}

fn rule_names(rules: &[iis_rewrite_filter::config::InboundRule]) -> Vec<&str> {
    rules.iter().map(|r| r.name.as_str()).collect()
}

const TWO_SITES: &str = r#"<configuration>
  <system.applicationHost>
    <sites>
      <site name="Alpha" id="1">
        <application path="/">
          <virtualDirectory path="/" physicalPath="%SystemDrive%\Sites\Alpha" />
        </application>
        <bindings>
          <binding protocol="http" bindingInformation="*:80:alpha.example" />
          <binding protocol="net.tcp" bindingInformation="808:*" />
        </bindings>
      </site>
      <site name="Beta" id="2">
        <application path="/">
          <virtualDirectory path="/" physicalPath="D:\beta" />
        </application>
        <application path="/shop">
          <virtualDirectory path="/" physicalPath="D:\beta-shop" />
        </application>
        <bindings>
          <binding protocol="https" bindingInformation="10.0.0.7:443:" certificateHash="AB12" />
        </bindings>
      </site>
    </sites>
  </system.applicationHost>
  <system.webServer>
    <proxy enabled="true" timeout="00:03:00" />
    <rewrite>
      <globalRules>
        <rule name="g"><match url="^g$" /><action type="Rewrite" url="/global" /></rule>
      </globalRules>
      <rules>
        <rule name="server"><match url="^s$" /><action type="Rewrite" url="/server" /></rule>
      </rules>
      <allowedServerVariables>
        <add name="HTTP_X_A" />
      </allowedServerVariables>
    </rewrite>
  </system.webServer>
  <location path="Beta">
    <system.webServer>
      <proxy preserveHostHeader="true" />
      <rewrite>
        <allowedServerVariables>
          <add name="HTTP_X_B" />
        </allowedServerVariables>
        <rules>
          <rule name="beta"><match url="^b$" /><action type="Rewrite" url="/beta" /></rule>
        </rules>
      </rewrite>
    </system.webServer>
  </location>
  <location path="Beta/shop">
    <system.webServer>
      <rewrite>
        <rules>
          <rule name="shop"><match url=".*" /><action type="Rewrite" url="/x" /></rule>
        </rules>
      </rewrite>
    </system.webServer>
  </location>
  <location path="Gamma">
    <system.webServer><rewrite><rules /></rewrite></system.webServer>
  </location>
</configuration>
"#;

const ALPHA_WEB_CONFIG: &str = r#"<configuration>
  <system.webServer>
    <handlers><clear /></handlers>
    <rewrite>
      <rules>
        <rule name="alpha"><match url="^a$" /><action type="Rewrite" url="/alpha" /></rule>
      </rules>
    </rewrite>
  </system.webServer>
</configuration>
"#;

#[test]
fn levels_merge_in_iis_order() {
    let layout = Layout::new(
        "levels",
        TWO_SITES,
        &[("Sites/Alpha/Web.config", ALPHA_WEB_CONFIG)],
    );
    let (s, files) = layout.import(&ServerOptions::default());
    assert!(s.parsed);
    let [alpha, beta] = &s.sites[..] else {
        panic!("two sites");
    };
    // Server rules are inherited by every site; each site's own come after.
    assert_eq!(rule_names(&alpha.imported.config.global_rules), ["g"]);
    assert_eq!(
        rule_names(&alpha.imported.config.rules),
        ["server", "alpha"]
    );
    // Rules below the site's root come last, with their directory.
    assert_eq!(
        rule_names(&beta.imported.config.rules),
        ["server", "beta", "shop"]
    );
    let dirs: Vec<Option<&str>> = beta
        .imported
        .config
        .rules
        .iter()
        .map(|r| r.directory.as_deref())
        .collect();
    assert_eq!(dirs, [None, None, Some("/shop/")]);
    // The server level alone.
    assert_eq!(rule_names(&s.server.config.rules), ["server"]);
    // The web.config was found under the mapped physical path, whatever its case.
    assert!(
        matches!(&alpha.web_config, WebConfigLookup::Read(p) if p.ends_with("Sites/Alpha/Web.config"))
    );
    assert_eq!(alpha.ignored.len(), 1);
    assert_eq!(alpha.ignored[0].0, "handlers");
    assert!(matches!(&beta.web_config, WebConfigLookup::Absent(_)));
    // allowedServerVariables: the server's list plus the site's.
    assert_eq!(
        beta.imported.config.allowed_server_variables,
        Some(vec!["HTTP_X_A".to_string(), "HTTP_X_B".to_string()])
    );
    // <proxy>: the site's attribute on top of the server's.
    let proxy = beta.imported.config.proxy.as_ref().unwrap();
    assert_eq!(proxy.timeout.as_deref(), Some("00:03:00"));
    assert_eq!(proxy.preserve_host_header, Some(true));
    assert_eq!(proxy.enabled, Some(true));
    assert_eq!(
        alpha
            .imported
            .config
            .proxy
            .as_ref()
            .unwrap()
            .preserve_host_header,
        None
    );
    // Bindings: HTTP and HTTPS parsed, other protocols kept for the report.
    assert_eq!(alpha.def.bindings.len(), 2);
    assert!(alpha.def.bindings[1].endpoint.is_none());
    let e = beta.def.bindings[0].endpoint.as_ref().unwrap();
    assert!(e.https && e.port == 443 && e.host.is_none());
    assert_eq!(
        beta.def.bindings[0].certificate_hash.as_deref(),
        Some("AB12")
    );
    assert_eq!(
        messages(&s, &files),
        [
            "applicationHost.config:62:3: <location path=\"Gamma\">: no site is named \"Gamma\"; \
             its configuration applies to nothing",
        ]
    );
}

#[test]
fn site_root_option_and_clear_across_levels() {
    let web = r#"<configuration><system.webServer><rewrite><rules>
  <clear />
  <rule name="only"><match url=".*" /><action type="Rewrite" url="/o" /></rule>
</rules></rewrite></system.webServer></configuration>"#;
    let layout = Layout::new("root", TWO_SITES, &[("elsewhere/web.config", web)]);
    let opts = ServerOptions {
        site_roots: vec![("beta".into(), layout.dir.join("elsewhere"))],
        drive_root: None,
    };
    let (s, _) = layout.import(&opts);
    // <clear/> in the site's web.config drops what the server and the location defined.
    assert_eq!(
        rule_names(&s.sites[1].imported.config.rules),
        ["only", "shop"]
    );
    assert_eq!(rule_names(&s.sites[1].imported.config.global_rules), ["g"]);
}

#[test]
fn errors_are_located_in_the_file_that_holds_them() {
    let apphost = TWO_SITES.replace(
        "<location path=\"Beta\">\n    <system.webServer>\n      <proxy preserveHostHeader=\"true\" />\n      <rewrite>",
        "<location path=\"Beta\">\n    <system.webServer>\n      <proxy preserveHostHeader=\"true\" />\n      <rewrite>\n        <globalRules />",
    ).replace("bindingInformation=\"808:*\"", "bindingInformation=\"808:*\" />\n          <binding protocol=\"http\" bindingInformation=\"*:http:x\"");
    let web = r#"<configuration>
  <webFarms />
  <system.webServer><rewrite><rules>
    <rule name="server"><match url=".*" /><action type="Rewrite" url="/o" /></rule>
  </rules></rewrite></system.webServer>
</configuration>"#;
    let layout = Layout::new("errors", &apphost, &[("Sites/Alpha/web.config", web)]);
    let (s, files) = layout.import(&ServerOptions::default());
    let errors: Vec<String> = messages(&s, &files)
        .into_iter()
        .filter(|m| !m.contains("not imported") && !m.contains("Gamma"))
        .collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].starts_with("applicationHost.config:11:36: <binding protocol=\"http\"> bindingInformation \"*:http:x\": expected IP:PORT:HOST"), "{errors:#?}");
    assert!(errors[1].starts_with("applicationHost.config:45:9: <globalRules> in <location path=\"Beta\">: global rules can only be defined for the whole server"), "{errors:#?}");
    assert!(errors[2].starts_with("web.config:2:3: <webFarms> in a site's web.config: IIS allows this section only in applicationHost.config"), "{errors:#?}");
    assert!(errors[3].starts_with("web.config:4:11: rule \"server\": duplicate name \"server\" (first defined at applicationHost.config:"), "{errors:#?}");
}

#[test]
fn unreadable_server_files_are_reported_where_they_break() {
    let layout = Layout::new(
        "xml",
        "<configuration>\n<system.webServer>\n</configuration>\n",
        &[],
    );
    let (s, files) = layout.import(&ServerOptions::default());
    assert!(!s.parsed);
    let m = messages(&s, &files);
    assert_eq!(m.len(), 1);
    assert!(
        m[0].starts_with("applicationHost.config:3:1: malformed XML"),
        "{m:?}"
    );

    let layout = Layout::new("root-el", "<rules />", &[]);
    let (s, files) = layout.import(&ServerOptions::default());
    assert!(messages(&s, &files)[0].contains("not an applicationHost.config"));

    let dup = "<configuration><system.applicationHost><sites>\n<site name=\"A\" id=\"1\" />\n<site name=\"a\" id=\"x\" />\n</sites></system.applicationHost></configuration>";
    let layout = Layout::new("dup", dup, &[]);
    let (s, files) = layout.import(&ServerOptions::default());
    assert_eq!(s.sites.len(), 1);
    let m = messages(&s, &files);
    assert!(m[0].starts_with("applicationHost.config:3:1: <site> \"a\": a site of that name is already defined (line 2)"), "{m:?}");
}

/// Mutated server fixtures never panic, through import and compilation, and every diagnostic
/// in applicationHost.config points at a line it has.
#[test]
fn mutated_servers_never_panic() {
    use crate::load::tests::{mutate, Rng};
    use std::time::{Duration, Instant};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("testdata")
        .join("applicationhost");
    let fixtures: Vec<Vec<u8>> = ["contoso", "lync"]
        .iter()
        .map(|d| std::fs::read(root.join(d).join("applicationHost.config")).unwrap())
        .collect();
    // Written beside the contoso fixture's copy so that its web.config is found too.
    let layout = Layout::new(
        "mutated",
        "",
        &[(
            "inetpub/wwwroot/web.config",
            &std::fs::read_to_string(root.join("contoso/inetpub/wwwroot/web.config")).unwrap(),
        )],
    );
    let path = layout.dir.join("applicationHost.config");
    let input = crate::commands::server::ServerInput::default();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let start = Instant::now();
    let mut runs = 0;
    while runs < 1500 && start.elapsed() < Duration::from_secs(15) {
        let mut data = fixtures[rng.below(fixtures.len())].clone();
        mutate(&mut rng, &mut data);
        std::fs::write(&path, &data).unwrap();
        let loaded = crate::commands::server::load_server(&path, &input);
        let lines = data.split(|&b| b == b'\n').count() as u32;
        for d in &loaded.diagnostics {
            assert!(d.pos.line >= 1 && d.pos.col >= 1, "{d:?}");
            if d.pos.file == 0 {
                assert!(d.pos.line <= lines.max(1), "{d:?} beyond {lines} lines");
            }
        }
        if !loaded.has_errors() {
            assert!(loaded.sites.iter().all(|s| s.engine.is_some()));
        }
        runs += 1;
    }
    assert!(runs >= 100, "only {runs} runs");
}

#[test]
fn levels_below_the_root_keep_their_directory_and_iis_order() {
    let apphost = r#"<configuration>
  <system.applicationHost><sites>
    <site name="S" id="1">
      <application path="/">
        <virtualDirectory path="/" physicalPath="C:\s" />
        <virtualDirectory path="/media" physicalPath="C:\media" />
        <virtualDirectory path="/far" physicalPath="\\nas\share" />
      </application>
      <application path="/app">
        <virtualDirectory path="/" physicalPath="C:\app" />
      </application>
      <application path="/app/sub">
        <virtualDirectory path="/" physicalPath="C:\sub" />
      </application>
      <bindings><binding protocol="http" bindingInformation="*:80:" /></bindings>
    </site>
  </sites></system.applicationHost>
  <location path="S/app/sub">
    <system.webServer><rewrite><rules>
      <rule name="sub-location"><match url="^x$" /></rule>
    </rules></rewrite></system.webServer>
  </location>
  <location path="S/app">
    <system.webServer><rewrite><rules>
      <rule name="app-location"><match url="^x$" /></rule>
    </rules></rewrite></system.webServer>
  </location>
</configuration>
"#;
    let site = r#"<configuration><system.webServer><rewrite><rules>
  <rule name="root"><match url="^r$" /></rule>
  <rule name="shadowed"><match url="^s$" /></rule>
</rules></rewrite></system.webServer></configuration>"#;
    let app = r#"<configuration><system.webServer>
  <rewrite>
    <rules>
      <remove name="shadowed" />
      <rule name="shadowed"><match url="^mine$" /></rule>
      <rule name="app-web"><match url="^page/(.*)" /><action type="Rewrite" url="p.php?{R:1}" /></rule>
    </rules>
    <outboundRules>
      <rule name="o"><match serverVariable="RESPONSE_X" pattern=".*" /><action type="Rewrite" value="y" /></rule>
    </outboundRules>
  </rewrite>
  <httpProtocol><customHeaders><add name="X-App" value="1" /></customHeaders></httpProtocol>
</system.webServer></configuration>"#;
    let sub = r#"<configuration><system.webServer><rewrite><rules>
  <clear />
  <rule name="sub-web"><match url=".*" /></rule>
  <rule name="root"><match url="^dup$" /></rule>
</rules></rewrite></system.webServer></configuration>"#;
    let media = r#"<rules><rule name="media-web"><match url="^m$" /></rule></rules>"#;
    let layout = Layout::new(
        "sublevels",
        apphost,
        &[
            ("s/web.config", site),
            ("app/web.config", app),
            ("sub/web.config", sub),
            ("media/web.config", &format!("<configuration><system.webServer><rewrite>{media}</rewrite></system.webServer></configuration>")),
        ],
    );
    let (s, files) = layout.import(&ServerOptions::default());
    let rules = &s.sites[0].imported.config.rules;
    let got: Vec<(&str, Option<&str>)> = rules
        .iter()
        .map(|r| (r.name.as_str(), r.directory.as_deref()))
        .collect();
    // Root levels; then by path, a parent before its children, <location> before web.config.
    // The replacement of "shadowed" and of "root" are not imported; the <clear/> of /app/sub
    // drops the <location> rule of the same directory.
    assert_eq!(
        got,
        [
            ("root", None),
            ("shadowed", None),
            ("app-location", Some("/app/")),
            ("app-web", Some("/app/")),
            ("sub-web", Some("/app/sub/")),
            ("media-web", Some("/media/")),
        ]
    );
    // Nothing below the root reaches the site-wide sections.
    let config = &s.sites[0].imported.config;
    assert!(config.outbound_rules.is_none() && config.custom_headers.is_empty());
    let messages = messages(&s, &files);
    let has = |needle: &str| messages.iter().any(|m| m.contains(needle));
    assert!(has("web.config:4:7: <remove name=\"shadowed\"> in the rules of \"/app/\": the inherited rule \"shadowed\" still runs"), "{messages:#?}");
    assert!(
        has("rule \"shadowed\" of \"/app/\" is not imported"),
        "{messages:#?}"
    );
    assert!(has("<clear/> in the rules of \"/app/sub/\": the inherited rules \"root\", \"shadowed\", \"app-location\", \"app-web\" still run"), "{messages:#?}");
    assert!(
        has("rule \"root\" of \"/app/sub/\" is not imported"),
        "{messages:#?}"
    );
    assert!(
        has("<outboundRules> for \"/app/\": not imported"),
        "{messages:#?}"
    );
    assert!(
        has("<httpProtocol> for \"/app/\": not imported"),
        "{messages:#?}"
    );
    assert!(
        has("site \"S\" \"/far\": its web.config is not read"),
        "{messages:#?}"
    );
    // The merged rule set compiles: relative targets and inputs are the engine's business.
    let engine = iis_rewrite_filter::Engine::compile(config).unwrap();
    let d = engine.inbound(&iis_rewrite_filter::StaticRequest::get("h", "/app/page/7"));
    assert_eq!(
        d.outcome,
        iis_rewrite_filter::Outcome::Rewrite {
            path: "/app/p.php?7".into()
        }
    );
}
