//! A headless Chromium of the test's own, driven through its own chromedriver on a free loopback port, with
//! a fresh profile; both stopped (and the profile removed) when dropped. `scripts/test` installs Debian's
//! `chromium` and `chromium-driver`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

/// The longest a page may take to show what a test waits for.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

/// Chromium's flags: no sandbox (tests may run as root), no GPU, nothing that reaches the network on its
/// own (the machine's network may be closed), a fresh profile.
fn chromium_args(profile: &std::path::Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1100,800",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn binary(names: &[&str]) -> String {
    for name in names {
        for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
            let path = format!("{dir}/{name}");
            if std::path::Path::new(&path).exists() {
                return path;
            }
        }
    }
    panic!(
        "{} not found: run the tests with ./scripts/test, which installs chromium and chromium-driver",
        names[0]
    );
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let profile = std::env::temp_dir().join(format!("afterhours-chromium-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Command::new(binary(&["chromedriver"]))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut started = false;
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                started = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(started, "chromedriver did not listen on port {port} within 10 s");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": binary(&["chromium"]),
                "args": chromium_args(&profile),
            }),
        );
        let client = tokio::time::timeout(
            Duration::from_secs(60),
            ClientBuilder::rustls()
                .unwrap()
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        .expect("chromium started within 60 s")
        .expect("a WebDriver session");
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Opens `url`, with `localhost` for `127.0.0.1`: Chromium keeps `Secure` cookies from plain http only
    /// for `localhost`, which it treats as a secure context, and the test app's public URL is https.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(&url.replacen("://127.0.0.1:", "://localhost:", 1))
            .await
            .unwrap();
    }

    /// The text of the page's `<main>`, waiting (at most [`WAIT`]) until it contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css("main")).await {
                Ok(main) => main.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the page did not show {needle:?} within {WAIT:?}; it shows:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Sets a field's value directly (date and time fields take typed keys in the browser's locale's order).
    pub async fn set_value(&self, id: &str, value: &str) {
        self.client
            .execute(
                "document.getElementById(arguments[0]).value = arguments[1];",
                vec![id.into(), value.into()],
            )
            .await
            .unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    pub async fn path(&self) -> String {
        self.client.current_url().await.unwrap().path().to_owned()
    }

    /// Ends the WebDriver session, which closes Chromium; dropping then stops chromedriver.
    pub async fn stop(self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
    }
}

impl Drop for Browser {
    /// A test that fails before `stop` still leaves no processes behind: chromedriver, and the Chromium
    /// processes of this browser's own profile, found by their command line.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let marker = format!("--user-data-dir={}", self.profile.display());
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).split('\0').any(|arg| arg == marker) {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
