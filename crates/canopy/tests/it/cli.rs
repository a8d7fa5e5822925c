//! What a new user meets first, through the real `canopy` binary: the demo
//! started twice, which database each command opens, `--help`, output into
//! a pipe, log files, the README's benchmark form and its consent steps.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::harness::*;
use crate::process::{canopy, free_port};

/// `canopy` with no `CANOPY_*` setting from the environment that runs the
/// tests, so what it does depends on the test alone.
fn bare_canopy() -> Command {
    let mut command = canopy();
    for (name, _) in std::env::vars() {
        if name.starts_with("CANOPY_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs a command that should end by itself; a command still running after
/// `seconds` (a second demo that did start, say) is killed and fails the test.
pub fn output_within(command: &mut Command, seconds: u64) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("canopy starts");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("{command:?} was still running after {seconds} s: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

async fn wait_healthy(base: &str, child: &mut Child) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await {
            if response.status() == StatusCode::OK {
                return;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "canopy exited before it became healthy");
        assert!(Instant::now() < deadline, "canopy did not become healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What alice sees: her balance and the number of her ledger entries.
async fn alice_sees(server: &TestServer, token: &str) -> (Value, usize) {
    let me = server.get("/v1/me", Some(token)).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    let ledger = server.get("/v1/me/ledger?limit=100", Some(token)).await;
    assert_eq!(ledger.status, StatusCode::OK, "{ledger:?}");
    let entries = ledger.body["entries"].as_array().map(Vec::len).unwrap_or_default();
    (me.body["reduction_grams"].clone(), entries)
}

async fn a_second_demo_leaves_the_first_answering_the_same_data() {
    // SQLite: the demo's own default database, under a working directory of
    // the test's; PostgreSQL: an empty database named with --database.
    let dir = TempDir::new().unwrap();
    let db = TestDb::new(backend()).await;
    let database = match backend() {
        Backend::Sqlite => vec![],
        Backend::Postgres => vec!["--database".to_owned(), db.url.clone()],
    };
    let demo = |port: u16| {
        let mut command = bare_canopy();
        command.current_dir(dir.path()).arg("demo").args(&database).args(["--listen", &format!("127.0.0.1:{port}")]);
        command
    };
    let port = free_port();
    let mut first = demo(port).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base, &mut first).await;
    let server = TestServer::external(&base);
    let session = server.post("/v1/sessions", None, json!({ "username": "alice", "password": "canopy-demo" })).await;
    assert_eq!(session.status, StatusCode::OK, "{session:?}");
    let token = session.body["token"].as_str().unwrap().to_owned();
    let before = alice_sees(&server, &token).await;
    assert!(before.0.as_i64().unwrap() > 0 && before.1 > 0, "{before:?}");

    // The same port: refused before the database is touched.
    let same_port = output_within(&mut demo(port), 60);
    assert!(!same_port.status.success());
    let message = stderr(&same_port);
    assert!(message.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{message}");
    assert!(message.contains("the database was not touched"), "{message}");
    assert_eq!(alice_sees(&server, &token).await, before, "the first demo answers as before");

    // Another port: the first demo's database is in use, and is left alone.
    let other_port = output_within(&mut demo(free_port()), 60);
    assert!(!other_port.status.success());
    let message = stderr(&other_port);
    match backend() {
        Backend::Sqlite => {
            assert!(
                message
                    .contains("another canopy process (a demo, a server or a command) has ./canopy-data/demo.db open"),
                "{message}"
            )
        }
        Backend::Postgres => assert!(message.contains("has partners already"), "{message}"),
    }
    assert_eq!(alice_sees(&server, &token).await, before, "the first demo answers as before");
    assert_eq!(server.get("/healthz", None).await.status, StatusCode::OK);

    // The CLI can be pointed at the running demo's database, as its instructions say.
    if backend() == Backend::Sqlite {
        let create = output_within(
            bare_canopy().current_dir(dir.path()).args([
                "partner",
                "create",
                "--name",
                "Beside the demo",
                "--categories",
                "food",
                "--database",
                "sqlite://./canopy-data/demo.db",
            ]),
            60,
        );
        assert!(create.status.success(), "{}", stderr(&create));
        assert!(stderr(&create).contains("canopy: using the database sqlite://./canopy-data/demo.db"));
    }

    first.kill().unwrap();
    first.wait().unwrap();
    if backend() == Backend::Sqlite {
        // A server on the demo's database keeps it from being wiped too.
        let port = free_port();
        let mut served = bare_canopy()
            .current_dir(dir.path())
            .args(["serve", "--database", "sqlite://./canopy-data/demo.db", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_healthy(&base, &mut served).await;
        let refused = output_within(&mut demo(free_port()), 60);
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains("has ./canopy-data/demo.db open"), "{}", stderr(&refused));
        let server = TestServer::external(&base);
        assert_eq!(alice_sees(&server, &token).await, before, "the server answers from the same database");
        served.kill().unwrap();
        served.wait().unwrap();

        // A database named with --database is never the demo's to wipe,
        // even when it is the default path of the other commands.
        let migrate = output_within(bare_canopy().current_dir(dir.path()).arg("migrate"), 60);
        assert!(migrate.status.success(), "{}", stderr(&migrate));
        let named = output_within(demo(free_port()).args(["--database", "sqlite://./canopy-data/canopy.db"]), 60);
        assert!(!named.status.success());
        assert!(stderr(&named).contains("./canopy-data/canopy.db exists"), "{}", stderr(&named));

        // Processes that died do not block the next demo (the locks went with them).
        let port = free_port();
        let mut next = demo(port).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_healthy(&format!("http://127.0.0.1:{port}"), &mut next).await;
        next.kill().unwrap();
        next.wait().unwrap();
    }
}

/// The URL with a password in it (PostgreSQL with trust authentication
/// ignores it), so that its hiding can be checked.
fn with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    match rest.split_once('@') {
        Some((user, host)) if !user.contains(':') => format!("{scheme}://{user}:hunter2@{host}"),
        _ => url.to_owned(),
    }
}

async fn only_serve_migrate_and_demo_create_a_database_and_every_command_names_it() {
    let db = TestDb::new(backend()).await;
    let dir = TempDir::new().unwrap();
    let (url, missing_url) = match backend() {
        Backend::Sqlite => {
            let missing = dir.path().join("fresh").join("canopy.db");
            (format!("sqlite://{}", missing.display()), format!("sqlite://{}", missing.display()))
        }
        Backend::Postgres => (
            with_password(&db.url),
            with_password(&canopy_store::bench::with_database_name(&postgres_admin_url(), "canopy_no_such_database")),
        ),
    };
    let shown = |url: &str| canopy_store::redact_url(url);

    // Commands that only use a database refuse one that is not there, naming it.
    for command in [&["partner", "create", "--name", "Metro", "--categories", "transport"][..], &["ledger", "verify"]] {
        let output = output_within(bare_canopy().args(command).args(["--database", &missing_url]), 60);
        assert!(!output.status.success(), "{command:?}");
        let message = stderr(&output);
        assert!(!message.contains("hunter2"), "{message}");
        match backend() {
            Backend::Sqlite => {
                let file = missing_url.trim_start_matches("sqlite://");
                assert!(message.contains(&format!("there is no database at {file}")), "{message}");
                assert!(message.contains("only `canopy serve`, `canopy migrate` and `canopy demo` create one"));
                assert!(!Path::new(file).exists(), "{command:?} created {file}");
            }
            Backend::Postgres => {
                assert!(message.contains(&format!("cannot open the database at {}", shown(&missing_url))), "{message}")
            }
        }
    }

    // migrate creates it (on SQLite) and says which database it opened.
    let migrate = output_within(bare_canopy().args(["migrate", "--database", &url]), 60);
    assert!(migrate.status.success(), "{}", stderr(&migrate));
    let opened = format!("canopy: using the database {}\n", shown(&url));
    assert!(stderr(&migrate).contains(&opened), "{}", stderr(&migrate));
    assert!(!stderr(&migrate).contains("hunter2"));

    // Now the others use it, and name it too.
    let create = output_within(
        bare_canopy()
            .args(["partner", "create", "--name", "Metro", "--categories", "transport", "--json"])
            .env("CANOPY_DATABASE_URL", &url),
        60,
    );
    assert!(create.status.success(), "{}", stderr(&create));
    assert!(stderr(&create).contains(&opened), "{}", stderr(&create));
    // The database option as it was accepted before the sub-command still works.
    let verify = output_within(bare_canopy().args(["--database", &url, "ledger", "verify"]), 60);
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(stderr(&verify).contains(&opened), "{}", stderr(&verify));
    assert!(!stderr(&verify).contains("hunter2"));
}

#[test]
fn each_command_help_lists_only_the_options_it_uses_with_their_defaults() {
    let help = |command: &[&str]| {
        let output = output_within(bare_canopy().args(command).arg("--help"), 30);
        assert!(output.status.success(), "{command:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let verify = help(&["ledger", "verify"]);
    assert!(verify.contains("--database <URL>"), "{verify}");
    assert!(verify.contains("[default: sqlite://./canopy-data/canopy.db]"), "{verify}");
    for unused in ["--listen", "--admin-token", "--connections-max", "--queue-events-max", "--db-connections-max"] {
        assert!(!verify.contains(unused), "ledger verify lists {unused}");
    }
    let serve = help(&["serve"]);
    for (option, default) in [
        ("--listen", "[default: 127.0.0.1:8080]"),
        ("--session-ttl-s", "[default: 86400]"),
        ("--connections-max", "[default: 1024]"),
        ("--queue-events-max", "[default: 200000]"),
        ("--group-linger-ms", "[default: 1]"),
        ("--db-statement-timeout-ms", "[default: 15000]"),
        ("--timezone", "[default: +08:00]"),
    ] {
        let line = serve.lines().find(|l| l.contains(option)).unwrap_or_else(|| panic!("serve lacks {option}"));
        assert!(line.contains(default), "{line}");
    }
    let openapi = help(&["openapi"]);
    assert!(!openapi.contains("--database"), "{openapi}");
    for command in [
        &["serve"][..],
        &["demo"],
        &["migrate"],
        &["partner", "create"],
        &["ledger", "verify"],
        &["bench", "ingest"],
        &["methodology", "list"],
        &["openapi"],
    ] {
        insta::assert_snapshot!(format!("help_{}", command.join("_")), help(command));
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    for command in [&["openapi"][..], &["methodology", "list"]] {
        let mut child =
            bare_canopy().args(command).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("canopy starts");
        // The reader goes away before canopy writes, as `head` does once it has its lines.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{command:?}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{command:?}");
    }
}

async fn logs_written_to_a_file_carry_no_colour_codes() {
    let db = TestDb::new(backend()).await;
    let dir = TempDir::new().unwrap();
    let log_path = dir.path().join("canopy.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let mut served = bare_canopy()
        .arg("serve")
        .args(["--database", &db.url, "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    wait_healthy(&format!("http://127.0.0.1:{port}"), &mut served).await;
    served.kill().unwrap();
    served.wait().unwrap();
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("canopy listening"), "the server logged: {text}");
    assert!(!text.contains('\u{1b}'), "colour codes in a log file: {text:?}");
}

async fn after_the_readme_revoke_granting_again_restores_crediting() {
    let server = TestServer::start().await;
    let partner = server.create_partner(&["transport", "food"]).await;
    let citizen = server.create_citizen("restorer", "CN-BJ").await;
    server.link(&citizen, &partner, &["transport", "food"], "restorer-1").await;
    let ride = |id: &str| json!([event(id, "restorer-1", "shared_bike", json!({ "distance_km": 1 }))]);
    assert_eq!(server.send_ok(&partner, ride("r-1")).await[0]["outcome"], "credited");

    // The README's revoke step.
    let revoked =
        server.request(Method::DELETE, &format!("/v1/me/consents/{}", partner.id), Some(&citizen.token), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(server.send_ok(&partner, ride("r-2")).await[0]["code"], "consent_revoked");

    // The README's restore step: grant again; the partner's link still holds.
    let granted = server
        .post(
            "/v1/me/consents",
            Some(&citizen.token),
            json!({ "partner_id": partner.id, "scopes": ["transport", "food"] }),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{granted:?}");
    let consents = server.get("/v1/me/consents", Some(&citizen.token)).await;
    assert_eq!(consents.body["consents"][0]["active"], true, "{consents:?}");
    assert_eq!(server.send_ok(&partner, ride("r-3")).await[0]["outcome"], "credited");
    // The act refused while consent was revoked can be reported again.
    assert_eq!(server.send_ok(&partner, ride("r-2")).await[0]["outcome"], "credited");
    assert_eq!(server.me(&citizen).await["reduction_grams"], 750);
}

async fn the_demo_plants_the_readme_tree_and_shares_its_certificate() {
    let dir = TempDir::new().unwrap();
    let db = TestDb::new(backend()).await;
    let mut command = bare_canopy();
    command.current_dir(dir.path()).arg("demo");
    if backend() == Backend::Postgres {
        command.args(["--database", &db.url]);
    }
    let port = free_port();
    let mut demo = command
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&base, &mut demo).await;
    let server = TestServer::external(&base);
    let session = server.post("/v1/sessions", None, json!({ "username": "alice", "password": "canopy-demo" })).await;
    let token = session.body["token"].as_str().unwrap().to_owned();

    // The README's steps: collect, find the tree, plant it, open the certificate.
    let collected = server.post("/v1/me/balls/collect", Some(&token), json!(null)).await;
    assert_eq!(collected.body["energy_grams"], 165_272, "{collected:?}");
    let trees = server.get("/v1/projects?kind=tree", Some(&token)).await;
    let first = &trees.body["projects"][0];
    assert_eq!((first["id"].as_str(), first["price_grams"].as_i64()), (Some("prj_1"), Some(17_900)), "{trees:?}");
    for kind in ["land", "voucher", "donation"] {
        let listed = server.get(&format!("/v1/projects?kind={kind}"), Some(&token)).await;
        assert!(!listed.body["projects"].as_array().unwrap().is_empty(), "the demo ships {kind} projects");
    }
    let headers = [
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/json".to_owned()),
        ("idempotency-key", "plant-1".to_owned()),
    ];
    let body = serde_json::to_vec(&json!({ "project_id": "prj_1", "quantity": 1 })).unwrap();
    let planted = server.raw(Method::POST, "/v1/me/redemptions", &headers, body).await;
    assert_eq!(
        (planted.status, planted.body["energy_left"].as_i64()),
        (StatusCode::CREATED, Some(147_372)),
        "{planted:?}"
    );
    let number = planted.body["certificate_number"].as_str().unwrap();
    let certificate = server.get(&format!("/v1/certificates/{number}"), None).await;
    assert_eq!(
        (certificate.body["owner"].as_str(), certificate.body["species"].as_str()),
        (Some("Alice Wang"), Some("Haloxylon ammodendron"))
    );
    let image = server.get(&format!("/v1/certificates/{number}.svg"), None).await;
    assert!(image.body.as_str().unwrap().contains("Haloxylon ammodendron"), "{image:?}");
    let given = server.post("/v1/campaigns/cmp_1/contributions", Some(&token), json!({ "grams": 1000 })).await;
    assert_eq!(given.body["energy_left"], 146_372, "{given:?}");
    let voucher =
        server.post("/v1/me/redemptions", Some(&token), json!({ "project_id": "prj_5", "quantity": 1 })).await;
    assert_eq!(voucher.body["voucher_code"], "LCS-DEMO-0001", "{voucher:?}");
    // The power-saving step: yesterday's red packet, tomorrow's invitation.
    let settled = server.get("/v1/me/energy/settlements", Some(&token)).await;
    let first = &settled.body["settlements"][0];
    assert_eq!(
        (first["saving_kwh"].as_f64(), first["paid_fen"].as_i64(), first["carbon_grams"].as_i64()),
        (Some(0.5), Some(100), Some(338)),
        "{settled:?}"
    );
    assert_eq!(server.get("/v1/me", Some(&token)).await.body["money_fen"], 100);
    let invitations = server.get("/v1/me/energy/invitations", Some(&token)).await;
    assert_eq!(invitations.body["invitations"][0]["id"], "inv_2", "{invitations:?}");
    let answered = server.post("/v1/me/energy/invitations/inv_2", Some(&token), json!({ "answer": "in" })).await;
    assert_eq!((answered.status, &answered.body["answer"]), (StatusCode::OK, &json!("in")), "{answered:?}");
    // The first command opens a working app: its welcome page is at `/`.
    let home = server.get("/", None).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.as_str().is_some_and(|html| html.contains("Welcome to Canopy")), "{home:?}");
    demo.kill().unwrap();
    demo.wait().unwrap();
}

crate::contract!(
    the_demo_plants_the_readme_tree_and_shares_its_certificate,
    a_second_demo_leaves_the_first_answering_the_same_data,
    only_serve_migrate_and_demo_create_a_database_and_every_command_names_it,
    logs_written_to_a_file_carry_no_colour_codes,
    after_the_readme_revoke_granting_again_restores_crediting,
);

#[test]
fn operators_add_takes_the_password_from_stdin_or_the_environment_never_an_argument() {
    let dir = TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ops.db").display());
    let migrated = output_within(bare_canopy().args(["migrate", "--database", &url]), 60);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    let add = |args: &[&str], env_password: Option<&str>| {
        let mut command = bare_canopy();
        command.args(["operators", "add"]).args(args).args(["--database", &url]).stdin(Stdio::null());
        if let Some(password) = env_password {
            command.env("CANOPY_OPERATOR_PASSWORD", password);
        }
        output_within(&mut command, 60)
    };
    let help = output_within(bare_canopy().args(["operators", "add", "--help"]), 30);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(help.contains("CANOPY_OPERATOR_PASSWORD") && help.contains("--role <ROLE>"), "{help}");
    assert!(!help.contains("--password"), "no password option to leak into `ps`: {help}");

    let no_password = add(&["ops-one", "--role", "admin"], None);
    assert!(!no_password.status.success());
    assert!(stderr(&no_password).contains("no password"), "{}", stderr(&no_password));
    let bad_role = add(&["ops-one", "--role", "root"], Some("a-good-password"));
    assert!(!bad_role.status.success() && stderr(&bad_role).contains("root"), "{}", stderr(&bad_role));
    let added = add(&["ops-one", "--role", "analyst"], Some("a-good-password"));
    assert!(added.status.success(), "{}", stderr(&added));
    assert_eq!(
        String::from_utf8_lossy(&added.stdout),
        "operator ops-one added with the role analyst; sign in at /admin/login\n"
    );
    let again = add(&["ops-one", "--role", "admin"], Some("a-good-password"));
    assert!(!again.status.success() && stderr(&again).contains("username_taken"), "{}", stderr(&again));
}
