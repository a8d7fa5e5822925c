//! Schemathesis against a live server: every operation of the served
//! OpenAPI document is called with generated (valid and invalid) data, and
//! each response must match what the document promises — no server errors,
//! only documented status codes and content types, bodies that fit their
//! schemas. So a drift between the code and the document fails the build.
//!
//! The `st` binary is found through `CANOPY_SCHEMATHESIS` (a path; `.ci/run`
//! installs it into a virtualenv). Without it the test passes and says it
//! was skipped, unless `CANOPY_TEST_REQUIRE_SCHEMATHESIS=1`.

use std::process::Command;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_live_server_keeps_the_promises_of_its_openapi_document() {
    let Some(st) = std::env::var_os("CANOPY_SCHEMATHESIS").filter(|p| !p.is_empty()) else {
        let required = std::env::var("CANOPY_TEST_REQUIRE_SCHEMATHESIS").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "CANOPY_TEST_REQUIRE_SCHEMATHESIS is set but CANOPY_SCHEMATHESIS names no `st` binary");
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** CANOPY_SCHEMATHESIS is not set: the schemathesis run is SKIPPED (set it to the path of `st`).\n"
        );
        return;
    };
    // Demo-like data: a partner with every category and a citizen linked to it.
    let server = TestServer::start().await;
    let all = ["clothing", "food", "housing", "transport", "use", "office", "digital_finance"];
    let partner = server.create_partner(&all).await;
    let citizen = server.create_citizen("alice", "CN-BJ").await;
    server.link(&citizen, &partner, &all, "alice").await;
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis/hooks.py");
    let hooks_dir = std::path::Path::new(hooks).parent().unwrap();
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args(["run", &format!("{base}/openapi.json"), "--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_schema_conformance,response_headers_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "25",
                "--seed",
                "1",
                "--no-color",
            ])
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", hooks_dir)
            .env("CANOPY_ST_SESSION", &citizen.token)
            .env("CANOPY_ST_BASE", &base)
            .env("CANOPY_ST_ADMIN", ADMIN_TOKEN)
            .env("CANOPY_ST_PARTNER_ID", &partner.id)
            .env("CANOPY_ST_PARTNER_SECRET", &partner.secret)
            .output()
            .expect("the schemathesis CLI runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis found failures:\n{stdout}\n{stderr}");
}
