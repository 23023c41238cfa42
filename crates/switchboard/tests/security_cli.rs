//! `switchboard token` and the client commands against a daemon with API tokens and TLS: the real
//! binary, a daemon started in this process on ephemeral loopback ports, certificates made here.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use switchboard_server::Daemon;

/// A finished run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `switchboard <args>` with `stdin` and extra environment, off the daemon's runtime.
async fn run(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    // A developer's own settings must not redirect the tests.
    for var in [
        "SWITCHBOARD_ADDR",
        "SWITCHBOARD_TOKEN",
        "SWITCHBOARD_TLS_CA",
        "SWITCHBOARD_TLS_CERT",
        "SWITCHBOARD_TLS_KEY",
    ] {
        c.env_remove(var);
    }
    c.args(args).envs(env.iter().copied());
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run switchboard");
        let mut pipe = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || pipe.write_all(stdin.as_bytes()));
        let out = child.wait_with_output().expect("wait for switchboard");
        writer.join().unwrap().ok();
        Run {
            code: out.status.code().expect("exited"),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    })
    .await
    .unwrap()
}

/// A scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("security-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `token new`, checked: the token and its entry.
async fn new_token(args: &[&str]) -> (String, String) {
    let mut all = vec!["token", "new"];
    all.extend_from_slice(args);
    let out = run(&all, "", &[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let (token, entry) = out.stdout.split_once("\n\n").unwrap();
    assert!(out.stderr.contains("not shown again"), "{}", out.stderr);
    (token.to_owned(), entry.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn token_new_prints_a_token_and_an_entry_that_holds_only_its_hash() {
    let (token, entry) =
        new_token(&["--name", "crm", "--accounts", "acme,beta", "--roles", "ingest,read"]).await;
    assert!(token.starts_with("sbt_") && token.len() == 47, "{token}");
    assert!(!entry.contains(&token), "the entry must not hold the token");
    let file = switchboard_config::parse_tokens(&entry, "entry").unwrap();
    let spec = &file.tokens[0];
    assert_eq!(spec.sha256, switchboard_config::hash_token(&token));
    assert_eq!(spec.accounts, switchboard_config::Accounts::Only(vec!["acme".into(), "beta".into()]));
    assert_eq!(spec.expires_ms, None);
    // `token hash` gives the same hash.
    let out = run(&["token", "hash"], &format!("{token}\n"), &[]).await;
    assert_eq!((out.code, out.stdout.trim()), (0, switchboard_config::hex(&spec.sha256).as_str()));
    // Two tokens are never the same.
    let (other, _) = new_token(&[
        "--name",
        "crm",
        "--accounts",
        "*",
        "--roles",
        "admin",
        "--expires",
        "2030-01-01T00:00:00Z",
    ])
    .await;
    assert_ne!(token, other);
    // Bad options are named.
    for (args, text) in [
        (&["--name", "a b", "--accounts", "x", "--roles", "read"][..], "--name: \"a b\" contains ' '"),
        (&["--name", "a", "--accounts", "*,x", "--roles", "read"], "--accounts: \"*\" stands alone"),
        (
            &["--name", "a", "--accounts", "x", "--roles", "read", "--expires", "2027-01-01"],
            "--expires: must be a date-time",
        ),
        (&["--name", "a", "--accounts", "x", "--roles", "read", "--expires", "soon"], "--expires: \"soon\""),
    ] {
        let mut all = vec!["token", "new"];
        all.extend_from_slice(args);
        let out = run(&all, "", &[]).await;
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains(text), "{:?} lacks {text:?}", out.stderr);
        assert!(out.stdout.is_empty(), "no token is printed for a refused entry");
    }
    let out = run(&["token", "new", "--name", "a", "--accounts", "x", "--roles", "write"], "", &[]).await;
    assert_eq!(out.code, 2);
    let out = run(&["token", "hash"], "", &[]).await;
    assert!(out.code != 0 && out.stderr.contains("no token on standard input"), "{out:?}");
}

struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki() -> Pki {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |names: &[&str]| {
        let params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let key = KeyPair::generate().unwrap();
        (params.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
    };
    Pki { server: leaf(&["switchboard.test", "127.0.0.1"]), client: leaf(&["client.test"]), ca: ca.pem() }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_commands_send_tokens_and_speak_tls() {
    let dir = scratch("clients");
    let pki = pki();
    let (acme, acme_entry) =
        new_token(&["--name", "acme-app", "--accounts", "acme", "--roles", "ingest,read"]).await;
    let (admin, admin_entry) = new_token(&["--name", "admin", "--accounts", "*", "--roles", "admin"]).await;
    let mut settings = switchboard_config::Settings::default();
    settings.storage.enabled = false;
    settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.security.tokens_file =
        Some(write(&dir, "tokens.toml", &format!("{acme_entry}\n{admin_entry}")).into());
    settings.security.tls = Some(switchboard_config::TlsSettings {
        cert_file: write(&dir, "server.crt", &pki.server.0).into(),
        key_file: write(&dir, "server.key", &pki.server.1).into(),
        client_ca_file: Some(write(&dir, "ca.crt", &pki.ca).into()),
    });
    let daemon = Daemon::start(&settings).await.unwrap();
    let addr = format!("https://127.0.0.1:{}", daemon.grpc_addr().port());
    let ca = write(&dir, "ca-client.crt", &pki.ca);
    let cert = write(&dir, "client.crt", &pki.client.0);
    let key = write(&dir, "client.key", &pki.client.1);
    let tls = ["--addr", addr.as_str(), "--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
    // `switchboard <args> <the TLS options>`, with `token` in SWITCHBOARD_TOKEN.
    let go = |args: &[&str], stdin: &'static str, token: Option<&str>| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&tls);
        let all: Vec<String> = all.into_iter().map(String::from).collect();
        let token = token.map(String::from);
        async move {
            let argv: Vec<&str> = all.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> = token.iter().map(|t| ("SWITCHBOARD_TOKEN", t.as_str())).collect();
            run(&argv, stdin, &env).await
        }
    };

    let events = concat!(
        r#"{"type":"agent_upserted","account":"acme","agent":"ana","capacity":{"messaging":1}}"#,
        "\n",
        r#"{"type":"agent_upserted","account":"beta","agent":"bob","capacity":{"messaging":1}}"#,
        "\n",
    );
    // The token in the environment; the other account's line is refused.
    let out = go(&["send", "-"], events, Some(&acme)).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("1 accepted, 1 rejected"), "{out:?}");
    assert!(out.stderr.contains("line 2: token 'acme-app' may not act on account \"beta\""), "{out:?}");
    // The token on the command line.
    let out = go(&["agents", "--account", "acme", "--json", "--token", &acme], "", None).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("\"id\":\"ana\""), "{out:?}");
    // Another account: refused.
    let out = go(&["agents", "--account", "beta"], "", Some(&acme)).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("PERMISSION_DENIED: token 'acme-app' may not act on account \"beta\""),
        "{out:?}"
    );
    // `stats` shows only the token's accounts; the admin token sees both.
    let out = go(&["stats", "--json"], "", Some(&acme)).await;
    assert_eq!((out.code, out.stdout.lines().count()), (0, 1), "{out:?}");
    let out = go(&["send", "-"], events, Some(&admin)).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = go(&["stats", "--json"], "", Some(&admin)).await;
    assert_eq!((out.code, out.stdout.lines().count()), (0, 2), "{out:?}");
    // No token: one line saying what to do.
    let out = go(&["agents", "--account", "acme"], "", None).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("UNAUTHENTICATED: missing token") && out.stderr.contains("--token"),
        "{out:?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    // The certificate names switchboard.test and 127.0.0.1: by name when asked, and not another.
    let out =
        go(&["agents", "--account", "acme", "--tls-server-name", "switchboard.test"], "", Some(&acme)).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = go(&["agents", "--account", "acme", "--tls-server-name", "wrong.test"], "", Some(&acme)).await;
    assert_eq!(out.code, 2, "{out:?}");

    // Without the client certificate, in plaintext, or with TLS options for a plaintext address:
    // one clear line.
    let env = [("SWITCHBOARD_TOKEN", acme.as_str())];
    let out = run(&["agents", "--account", "acme", "--addr", &addr, "--tls-ca", &ca], "", &env).await;
    assert_eq!((out.code, out.stderr.lines().count()), (2, 1), "{out:?}");
    assert!(out.stderr.contains("--tls-cert and --tls-key"), "{out:?}");
    let plain = format!("http://127.0.0.1:{}", daemon.grpc_addr().port());
    let out = run(&["agents", "--account", "acme", "--addr", &plain], "", &env).await;
    assert_eq!((out.code, out.stderr.lines().count()), (2, 1), "{out:?}");
    assert!(out.stderr.contains("https://"), "{out:?}");
    let out = run(&["agents", "--account", "acme", "--addr", &plain, "--tls-ca", &ca], "", &env).await;
    assert!(out.code == 2 && out.stderr.contains("need an https:// --addr"), "{out:?}");
    daemon.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
