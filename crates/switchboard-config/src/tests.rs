//! Unit tests: the shipped file against the defaults, every refusal, and the merges.

use super::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use switchboard_core::config::{DAY_MS, Policy};
use switchboard_core::{AgentStatus, AssignmentMethod, AssignmentMode, Config};

const ORIGIN: &str = "config/x.toml";

fn accepted(text: &str) -> Settings {
    match parse(text, ORIGIN) {
        Ok(settings) => settings,
        Err(e) => panic!("refused: {e}\n--- input ---\n{text}"),
    }
}

fn ok(text: &str) -> Config {
    accepted(text).engine
}

/// Asserts that `text` is refused with a message starting with the file and containing every part.
fn refused(text: &str, parts: &[&str]) -> String {
    let message = match parse(text, ORIGIN) {
        Ok(_) => panic!("accepted, expected a refusal containing {parts:?}\n--- input ---\n{text}"),
        Err(e) => e.to_string(),
    };
    assert!(message.starts_with(&format!("{ORIGIN}: ")), "{message}");
    for part in parts {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    assert!(!message.contains('\n'), "{message:?} is not one line");
    message
}

fn style_name(p: &Policy, i: usize) -> &str {
    &p.styles[i].name
}

#[test]
fn the_shipped_file_equals_the_defaults() {
    assert_eq!(shipped(), Settings::default());
    assert_eq!(shipped().engine, Config::default());
}

#[test]
fn an_empty_file_gives_the_defaults() {
    assert_eq!(accepted(""), Settings::default());
}

#[test]
fn the_shipped_daemon_values() {
    // Spelt out once, so that a change to a default is a visible change here too.
    let shipped = shipped();
    assert_eq!(
        shipped.server,
        ServerSettings {
            grpc_addr: "127.0.0.1:50051".parse().unwrap(),
            http_addr: "127.0.0.1:9464".parse().unwrap(),
            grpc_unix_socket: None,
            shutdown_grace_ms: 10_000,
        }
    );
    assert_eq!(shipped.log, LogSettings { format: LogFormat::Text, level: LogLevel::Info });
    assert!(!shipped.metrics.per_account_labels);
    assert_eq!(shipped.runtime, RuntimeSettings { shards: 0, shard_queue: 4096, max_future_skew_ms: 5000 });
    assert_eq!(
        shipped.limits,
        Limits {
            max_message_bytes: 1_048_576,
            max_id_bytes: 256,
            max_list_len: 64,
            max_watchers: 256,
            watch_buffer: 4096,
            max_queue_listing: 1000,
        }
    );
    assert_eq!(
        shipped.storage,
        StorageSettings {
            enabled: true,
            dir: "./data".into(),
            fsync: Fsync::Always,
            fsync_interval_ms: 10,
            segment_bytes: 64 << 20,
            snapshot_every_events: 1_000_000,
            snapshot_every_ms: 300_000,
            dedup_window_ms: 86_400_000,
            dedup_max_ids: 1_000_000,
        }
    );
}

#[test]
fn storage_settings_are_checked() {
    let s = accepted("[storage]\nfsync = \"interval\"\nfsync_interval_ms = 50\ndir = \"/var/lib/sb\"\n");
    assert_eq!((s.storage.fsync, s.storage.fsync_interval_ms), (Fsync::Interval, 50));
    assert_eq!(s.storage.dir, std::path::PathBuf::from("/var/lib/sb"));
    assert_eq!(s.storage.snapshot_every_events, 1_000_000, "the rest keeps its default");
    for (text, message) in [
        (
            "[storage]\nfsync = \"sometimes\"",
            "storage.fsync: \"sometimes\" is not one of always, interval, never",
        ),
        ("[storage]\ndir = \"\"", "storage.dir: must not be empty"),
        (
            "[storage]\nsnapshot_every_events = 10",
            "storage.snapshot_every_events: 10 is below the minimum 1000",
        ),
        ("[storage]\nsnapshot_every_s = 0", "storage.snapshot_every_s: must be at least 1"),
        (
            "[storage]\ndedup_window_s = 999999999",
            "storage.dedup_window_s: 999999999 s is over the 7-day limit",
        ),
        ("[storage]\nfsync_interval_ms = 0", "storage.fsync_interval_ms: 0 is below the minimum 1"),
        ("[storage]\nenabled = \"yes\"", "storage.enabled: must be true or false"),
    ] {
        refused(text, &[message]);
    }
}

#[test]
fn the_shipped_unix_socket_example_is_valid() {
    let line = "# grpc_unix_socket = ";
    assert_eq!(SHIPPED.matches(line).count(), 1);
    let settings = accepted(&SHIPPED.replace(line, "grpc_unix_socket = "));
    assert_eq!(settings.server.grpc_unix_socket, Some(PathBuf::from("/run/switchboard/grpc.sock")));
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = std::env::temp_dir().join(format!("switchboard-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, "[routing]\nassignment_method = \"round_robin\"\n").unwrap();
    let config = load(&path).unwrap().engine;
    assert_eq!(config.defaults.assignment_method, AssignmentMethod::RoundRobin);

    std::fs::write(&path, "[routing]\nassignment_method = 1\n").unwrap();
    let message = load(&path).unwrap_err().to_string();
    assert!(message.starts_with(&format!("{}: routing.assignment_method: ", path.display())), "{message}");

    let missing = dir.join("missing.toml");
    let error = load(&missing).unwrap_err();
    assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
    assert!(error.to_string().starts_with(&format!("{}: cannot read the file: ", missing.display())));
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- Refusals ---------------------------------------------------------------------------------

#[test]
fn close_window_over_28_days() {
    refused(
        "[styles.social_messaging]\nclose_after_solved_s = 2500000\n",
        &[
            "config/x.toml: styles.social_messaging.close_after_solved_s: 2500000 s is over the 28-day limit (2419200 s)",
        ],
    );
    // The limit itself is allowed.
    let c = ok("[styles.social_messaging]\nclose_after_solved_s = 2419200\n");
    assert_eq!(c.defaults.styles[2].close_after_solved_ms, 28 * DAY_MS);
}

#[test]
fn rule_naming_an_unknown_style() {
    refused(
        "[[style_rules]]\nvia = \"web_widget\"\nstyle = \"live_chat\"\n\n[[style_rules]]\nvia = \"sms\"\nstyle = \"chatty\"\n",
        &[
            "config/x.toml: style_rules[1].style: unknown style \"chatty\" (known: live_chat, live_chat_returning, social_messaging)",
        ],
    );
}

#[test]
fn rule_without_a_style() {
    refused("[[style_rules]]\nvia = \"sms\"\n", &["style_rules[0].style: missing"]);
}

#[test]
fn rule_conditions() {
    refused(
        "[[style_rules]]\nvia = []\nstyle = \"live_chat\"\n",
        &["style_rules[0].via: must not be an empty list"],
    );
    refused(
        "[[style_rules]]\nbrand = [\"\"]\nstyle = \"live_chat\"\n",
        &["style_rules[0].brand: must not contain an empty string"],
    );
    refused(
        "[[style_rules]]\nchannel = [\"messaging\", \"fax\"]\nstyle = \"live_chat\"\n",
        &["style_rules[0].channel: unknown channel \"fax\" (known: messaging, email, talk)"],
    );
    refused(
        "[[style_rules]]\nvia = [\"sms\", 3]\nstyle = \"live_chat\"\n",
        &["style_rules[0].via: must be a string or a list of strings, got [\"sms\", 3]"],
    );
    refused(
        "[[style_rules]]\nauthenticated = \"yes\"\nstyle = \"live_chat\"\n",
        &["style_rules[0].authenticated: must be true or false, got \"yes\""],
    );
}

#[test]
fn negative_and_non_integer_durations() {
    refused(
        "[channels.messaging]\noffer_timeout_s = -5\n",
        &["config/x.toml: channels.messaging.offer_timeout_s: must be a non-negative integer, got -5"],
    );
    refused(
        "[channels.messaging]\nskills_timeout_s = 1.5\n",
        &["channels.messaging.skills_timeout_s: must be a non-negative integer, got 1.5"],
    );
    refused(
        "[channels.messaging]\nskills_timeout_s = \"60\"\n",
        &["channels.messaging.skills_timeout_s: must be a non-negative integer, got \"60\""],
    );
}

#[test]
fn duration_ranges() {
    refused(
        "[channels.talk]\noffer_timeout_s = 0\n",
        &["channels.talk.offer_timeout_s: must be at least 1 s"],
    );
    refused(
        "[channels.talk]\noffer_timeout_s = 86401\n",
        &["channels.talk.offer_timeout_s: 86401 s is over the 1-day limit (86400 s)"],
    );
    refused(
        "[channels.talk]\nskills_timeout_s = 3601\n",
        &["channels.talk.skills_timeout_s: 3601 s is over the 1-hour limit (3600 s)"],
    );
    refused(
        "[channels.talk]\nskills_timeout_s = 9223372036854775807\n",
        &["channels.talk.skills_timeout_s: 9223372036854775807 s is over the 1-hour limit"],
    );
    let c = ok(
        "[channels.talk]\noffer_timeout_s = 1\nskills_timeout_s = 0\n[channels.email]\nskills_timeout_s = 3600\n",
    );
    assert_eq!(c.channels.len(), 2);
    assert_eq!(c.defaults.channels[0].offer_timeout_ms, 1000);
    assert_eq!(c.defaults.channels[0].skills_timeout_ms, 0);
    assert_eq!(c.defaults.channels[1].skills_timeout_ms, 3_600_000);
}

#[test]
fn unknown_mode_and_method() {
    refused(
        "[channels.talk]\nmode = \"manual\"\n",
        &["config/x.toml: channels.talk.mode: \"manual\" is not one of offer, auto"],
    );
    refused(
        "[routing]\nassignment_method = \"random\"\n",
        &[
            "routing.assignment_method: \"random\" is not one of spare_capacity, spare_percentage, round_robin",
        ],
    );
    refused(
        "[routing]\nassignment_method = 2\n",
        &["routing.assignment_method: must be one of spare_capacity, spare_percentage, round_robin, got 2"],
    );
}

#[test]
fn unknown_default_style() {
    refused(
        "[routing]\ndefault_style = \"chatty\"\n",
        &[
            "config/x.toml: routing.default_style: unknown style \"chatty\" (known: live_chat, live_chat_returning, social_messaging)",
        ],
    );
}

#[test]
fn unified_status_missing_a_channel() {
    refused(
        "[unified_statuses]\naway = { messaging = \"away\", email = \"online\" }\n",
        &["config/x.toml: unified_statuses.away.talk: missing (every channel must be mapped)"],
    );
}

#[test]
fn unified_status_with_a_bad_value_or_channel() {
    refused(
        "[unified_statuses]\nbusy = { messaging = \"idle\", email = \"away\", talk = \"away\" }\n",
        &[
            "config/x.toml: unified_statuses.busy.messaging: \"idle\" is not one of online, away, transfers_only, offline",
        ],
    );
    refused(
        "[unified_statuses]\nbusy = { messaging = \"away\", email = \"away\", talk = \"away\", fax = \"away\" }\n",
        &["unified_statuses.busy.fax: unknown channel \"fax\" (known: messaging, email, talk)"],
    );
    refused(
        "[unified_statuses]\nbusy = \"away\"\n",
        &["unified_statuses.busy: must be a table, got \"away\""],
    );
}

#[test]
fn account_adding_a_channel() {
    refused(
        "[accounts.acme.channels.fax]\nmode = \"auto\"\n",
        &[
            "config/x.toml: accounts.acme.channels.fax: unknown channel \"fax\" (channels cannot be added per account)",
        ],
    );
}

#[test]
fn unknown_keys_are_named_by_their_path() {
    refused(
        "[routing]\nasignment_method = \"round_robin\"\n",
        &["config/x.toml: unknown key 'routing.asignment_method'"],
    );
    refused("[sever]\nport = 1\n", &["unknown key 'sever'"]);
    refused("[channels.email]\nofer_timeout_s = 10\n", &["unknown key 'channels.email.ofer_timeout_s'"]);
    refused(
        "[styles.live_chat]\nclose_after_solved = 10\n",
        &["unknown key 'styles.live_chat.close_after_solved'"],
    );
    refused(
        "[accounts.acme]\nrouting = { assignment_method = \"round_robin\" }\n",
        &["unknown key 'accounts.acme.routing'"],
    );
    refused(
        "[accounts.\"acme.eu\".channels.email]\nmood = \"auto\"\n",
        &["unknown key 'accounts.\"acme.eu\".channels.email.mood'"],
    );
    // A misspelt key is reported rather than the "missing" it causes.
    refused(
        "[[style_rules]]\nvia = \"sms\"\nstyle = \"live_chat\"\n[[style_rules]]\nstlye = \"live_chat\"\n",
        &["unknown key 'style_rules[1].stlye'"],
    );
    refused(
        "[[accounts.acme.style_rules]]\nstyle = \"live_chat\"\nvia_ = 1\n",
        &["unknown key 'accounts.acme.style_rules[0].via_'"],
    );
}

#[test]
fn syntax_errors_have_a_line_and_column() {
    let message =
        refused("[routing]\nassignment_method = \"round_robin\n", &["config/x.toml: line 2, column "]);
    assert!(
        matches!(
            parse("[routing]\nassignment_method = \"round_robin\n", ORIGIN),
            Err(ConfigError::Syntax { line: 2, .. })
        ),
        "{message}"
    );
    refused(
        "[routing]\nassignment_method = \"a\"\nassignment_method = \"b\"\n",
        &["config/x.toml: line 3, column 1: "],
    );
    refused("[channels.email]\nmode = auto\n", &["line 2, column 8: "]);
}

#[test]
fn wrong_types_name_the_key() {
    refused("routing = 5\n", &["config/x.toml: routing: must be a table, got 5"]);
    refused("[channels]\nmessaging = 5\n", &["channels.messaging: must be a table, got 5"]);
    refused("channels = [1]\n", &["channels: must be a table, got a list"]);
    refused("style_rules = 5\n", &["style_rules: must be a list of tables, got 5"]);
    refused(
        "[style_rules]\nstyle = \"live_chat\"\n",
        &["style_rules: must be a list of tables ([[...]] blocks), got a single table"],
    );
    refused("style_rules = [1]\n", &["style_rules[0]: must be a table, got 1"]);
    refused(
        "[channels.email]\nreassign_on_unavailable = \"yes\"\n",
        &["channels.email.reassign_on_unavailable: must be true or false, got \"yes\""],
    );
    refused(
        "[routing]\ndefault_style = [\"live_chat\"]\n",
        &["routing.default_style: must be a string, got [\"live_chat\"]"],
    );
    refused(
        "[routing]\ndefault_style = { name = \"x\" }\n",
        &["routing.default_style: must be a string, got a table"],
    );
    refused(
        "[routing]\ndefault_style = 1979-05-27\n",
        &["routing.default_style: unknown style \"1979-05-27\""],
    );
    refused("[accounts]\nacme = true\n", &["accounts.acme: must be a table, got true"]);
}

#[test]
fn empty_and_bad_names() {
    refused("channels = {}\n", &["config/x.toml: channels: at least one channel is required"]);
    refused("[channels.\"\"]\n", &["channels.\"\": a channel name must not be empty"]);
    refused("[styles.\"\"]\nclose_after_solved_s = 1\n", &["styles.\"\": a style name must not be empty"]);
    refused(
        "[unified_statuses]\n\"\" = { messaging = \"away\", email = \"away\", talk = \"away\" }\n",
        &["unified_statuses.\"\": a unified status name must not be empty"],
    );
    refused("[accounts.\"\"]\n", &["accounts.\"\": an account id must not be empty"]);
    let many: String = (0..256).map(|i| format!("[channels.c{i}]\n")).collect();
    refused(&many, &["channels: at most 255 channels are supported, got 256"]);
}

#[test]
fn a_new_style_needs_its_close_window() {
    refused("[styles.chatty]\n", &["styles.chatty.close_after_solved_s: missing"]);
    refused(
        "[accounts.acme.styles.chatty]\n",
        &["accounts.acme.styles.chatty.close_after_solved_s: missing"],
    );
}

#[test]
fn no_input_makes_it_panic() {
    // Prefixes of the shipped file, cut all over (every third character keeps the test quick),
    // either parse or are refused.
    let text = SHIPPED;
    for (i, _) in text.char_indices().step_by(3) {
        let _ = parse(&text[..i], ORIGIN);
    }
    for junk in ["\u{0}", "[", "=", "[[a]]\n[a]", "a = 1979-05-27T07:32:00Z", "x = nan", "\u{feff}[routing]"]
    {
        let _ = parse(junk, ORIGIN);
    }
}

// --- The daemon's sections ---------------------------------------------------------------------

#[test]
fn a_partial_section_keeps_every_other_default() {
    let settings = accepted("[server]\ngrpc_addr = \"127.0.0.1:0\"\n");
    assert_eq!(
        settings,
        Settings {
            server: ServerSettings {
                grpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..ServerSettings::default()
            },
            ..Settings::default()
        }
    );
    let settings = accepted("[limits]\nmax_watchers = 3\n[log]\nlevel = \"debug\"\n");
    assert_eq!(
        settings,
        Settings {
            log: LogSettings { level: LogLevel::Debug, ..LogSettings::default() },
            limits: Limits { max_watchers: 3, ..Limits::default() },
            ..Settings::default()
        }
    );
    // An empty table is the same as none.
    assert_eq!(accepted("[server]\n[log]\n[metrics]\n[runtime]\n[limits]\n"), Settings::default());
}

#[test]
fn every_daemon_key_is_read() {
    let settings = accepted(
        r#"
[server]
grpc_addr = "[::1]:7000"
http_addr = "0.0.0.0:8080"
grpc_unix_socket = "run/sb.sock"
shutdown_grace_s = 600

[log]
format = "json"
level = "trace"

[metrics]
per_account_labels = true

[runtime]
shards = 256
shard_queue = 16
max_future_skew_ms = 0

[limits]
max_message_bytes = 67108864
max_id_bytes = 1
max_list_len = 4096
max_watchers = 100000
watch_buffer = 1048576
max_queue_listing = 1

[storage]
enabled = false
dir = "/srv/switchboard"
fsync = "never"
fsync_interval_ms = 10000
segment_bytes = 1048576
snapshot_every_events = 1000
snapshot_every_s = 86400
dedup_window_s = 604800
dedup_max_ids = 1
"#,
    );
    assert_eq!(
        settings,
        Settings {
            engine: Config::default(),
            server: ServerSettings {
                grpc_addr: "[::1]:7000".parse().unwrap(),
                http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
                grpc_unix_socket: Some(PathBuf::from("run/sb.sock")),
                shutdown_grace_ms: 600_000,
            },
            log: LogSettings { format: LogFormat::Json, level: LogLevel::Trace },
            metrics: MetricsSettings { per_account_labels: true },
            runtime: RuntimeSettings { shards: 256, shard_queue: 16, max_future_skew_ms: 0 },
            limits: Limits {
                max_message_bytes: 67_108_864,
                max_id_bytes: 1,
                max_list_len: 4096,
                max_watchers: 100_000,
                watch_buffer: 1_048_576,
                max_queue_listing: 1,
            },
            storage: StorageSettings {
                enabled: false,
                dir: PathBuf::from("/srv/switchboard"),
                fsync: Fsync::Never,
                fsync_interval_ms: 10_000,
                segment_bytes: 1 << 20,
                snapshot_every_events: 1000,
                snapshot_every_ms: 86_400_000,
                dedup_window_ms: 604_800_000,
                dedup_max_ids: 1,
            },
            bus: BusSettings::default(),
            security: SecuritySettings::default(),
        }
    );
    assert_eq!(accepted("[server]\nshutdown_grace_s = 0\n").server.shutdown_grace_ms, 0);
    assert_eq!(accepted("[runtime]\nmax_future_skew_ms = 86400000\n").runtime.max_future_skew_ms, 86_400_000);
}

#[test]
fn socket_addresses() {
    refused(
        "[server]\ngrpc_addr = \"localhost\"\n",
        &[
            "config/x.toml: server.grpc_addr: \"localhost\" is not a socket address (host:port, e.g. 127.0.0.1:50051)",
        ],
    );
    refused(
        "[server]\nhttp_addr = \"localhost:9464\"\n",
        &[
            "config/x.toml: server.http_addr: \"localhost:9464\" is not a socket address (host:port, e.g. 127.0.0.1:9464)",
        ],
    );
    for bad in ["127.0.0.1", "::1:50051", "127.0.0.1:65536", "127.0.0.1:-1", ""] {
        refused(
            &format!("[server]\ngrpc_addr = {bad:?}\n"),
            &[&format!("server.grpc_addr: {bad:?} is not a socket address")],
        );
    }
    refused(
        "[server]\ngrpc_addr = 50051\n",
        &["config/x.toml: server.grpc_addr: must be a string, got 50051"],
    );
}

#[test]
fn unix_socket_path() {
    refused(
        "[server]\ngrpc_unix_socket = \"\"\n",
        &["config/x.toml: server.grpc_unix_socket: must not be empty (leave the key out for no Unix socket)"],
    );
    refused(
        "[server]\ngrpc_unix_socket = false\n",
        &["server.grpc_unix_socket: must be a string, got false"],
    );
}

#[test]
fn shutdown_grace_range() {
    refused(
        "[server]\nshutdown_grace_s = 601\n",
        &["config/x.toml: server.shutdown_grace_s: 601 s is over the 10-minute limit (600 s)"],
    );
    refused(
        "[server]\nshutdown_grace_s = -1\n",
        &["server.shutdown_grace_s: must be a non-negative integer, got -1"],
    );
}

#[test]
fn log_names() {
    refused("[log]\nformat = \"yaml\"\n", &["config/x.toml: log.format: \"yaml\" is not one of text, json"]);
    refused(
        "[log]\nlevel = \"verbose\"\n",
        &["config/x.toml: log.level: \"verbose\" is not one of error, warn, info, debug, trace"],
    );
    // Names are exact, as everywhere else in the file.
    refused(
        "[log]\nlevel = \"INFO\"\n",
        &["log.level: \"INFO\" is not one of error, warn, info, debug, trace"],
    );
    refused("[log]\nlevel = 3\n", &["log.level: must be one of error, warn, info, debug, trace, got 3"]);
}

#[test]
fn metrics_flag() {
    refused(
        "[metrics]\nper_account_labels = \"true\"\n",
        &["config/x.toml: metrics.per_account_labels: must be true or false, got \"true\""],
    );
}

#[test]
fn runtime_and_limit_ranges() {
    refused(
        "[runtime]\nshard_queue = 8\n",
        &["config/x.toml: runtime.shard_queue: 8 is below the minimum 16"],
    );
    refused(
        "[runtime]\nmax_future_skew_ms = 86400001\n",
        &["config/x.toml: runtime.max_future_skew_ms: 86400001 ms is over the 1-day limit (86400000 ms)"],
    );
    refused("[runtime]\nshards = -1\n", &["runtime.shards: must be a non-negative integer, got -1"]);
    refused(
        "[limits]\nmax_id_bytes = 9223372036854775807\n",
        &["limits.max_id_bytes: 9223372036854775807 is above the maximum 4096"],
    );
    // Each count: refused just outside its range, accepted at both ends.
    let counts: [(&str, &str, u64, u64); 8] = [
        ("runtime", "shards", 0, 256),
        ("runtime", "shard_queue", 16, 1_048_576),
        ("limits", "max_message_bytes", 1024, 67_108_864),
        ("limits", "max_id_bytes", 1, 4096),
        ("limits", "max_list_len", 1, 4096),
        ("limits", "max_watchers", 1, 100_000),
        ("limits", "watch_buffer", 16, 1_048_576),
        ("limits", "max_queue_listing", 1, 1_000_000),
    ];
    for (section, key, min, max) in counts {
        let file = |n: u64| format!("[{section}]\n{key} = {n}\n");
        if min > 0 {
            refused(
                &file(min - 1),
                &[&format!("config/x.toml: {section}.{key}: {} is below the minimum {min}", min - 1)],
            );
        }
        refused(
            &file(max + 1),
            &[&format!("config/x.toml: {section}.{key}: {} is above the maximum {max}", max + 1)],
        );
        for n in [min, max] {
            let settings = accepted(&file(n));
            let read = match key {
                "shards" => settings.runtime.shards,
                "shard_queue" => settings.runtime.shard_queue,
                "max_message_bytes" => settings.limits.max_message_bytes,
                "max_id_bytes" => settings.limits.max_id_bytes,
                "max_list_len" => settings.limits.max_list_len,
                "max_watchers" => settings.limits.max_watchers,
                "watch_buffer" => settings.limits.watch_buffer,
                _ => settings.limits.max_queue_listing,
            };
            assert_eq!(read as u64, n, "{section}.{key}");
        }
    }
}

#[test]
fn daemon_sections_unknown_keys_and_shapes() {
    refused("[server]\nport = 50051\n", &["config/x.toml: unknown key 'server.port'"]);
    refused("[log]\nlevels = \"debug\"\n", &["unknown key 'log.levels'"]);
    refused("[metrics]\nper_account_label = true\n", &["unknown key 'metrics.per_account_label'"]);
    refused("[runtime]\nshard = 4\n", &["unknown key 'runtime.shard'"]);
    refused("[limits]\nmax_message_size = 1024\n", &["unknown key 'limits.max_message_size'"]);
    // The misspelt key is reported, not the error of another section.
    refused("[limits]\nmax_ids = 1\n[runtime]\nshards = 1000\n", &["unknown key 'limits.max_ids'"]);
    refused(
        "server = \"127.0.0.1:50051\"\n",
        &["config/x.toml: server: must be a table, got \"127.0.0.1:50051\""],
    );
    refused("[[limits]]\n", &["limits: must be a table, got a list"]);
}

#[test]
fn sections_are_checked_in_the_shipped_files_order() {
    // The daemon's sections come first in the shipped file, and are checked first, whatever order a
    // file writes them in.
    refused(
        "[routing]\ndefault_style = \"chatty\"\n[runtime]\nshards = 1000\n",
        &["runtime.shards: 1000 is above the maximum 256"],
    );
    refused(
        "[limits]\nmax_watchers = 0\n[server]\nhttp_addr = \"x\"\n",
        &["server.http_addr: \"x\" is not a socket address"],
    );
}

// --- Merges -----------------------------------------------------------------------------------

#[test]
fn account_overrides_change_only_what_they_name() {
    let c = ok(r#"
[accounts.acme]
assignment_method = "round_robin"

[accounts.acme.channels.email]
mode = "offer"

[accounts.beta.channels.talk]
offer_timeout_s = 45
"#);
    let defaults = Config::default().defaults;
    assert_eq!(c.defaults, defaults);

    let acme = c.policy("acme");
    assert_eq!(acme.assignment_method, AssignmentMethod::RoundRobin);
    assert_eq!(acme.channels[1].mode, AssignmentMode::Offer);
    // Every other key of email keeps the global value.
    assert_eq!(acme.channels[1].offer_timeout_ms, defaults.channels[1].offer_timeout_ms);
    assert_eq!(acme.channels[1].skills_timeout_ms, defaults.channels[1].skills_timeout_ms);
    assert!(!acme.channels[1].reassign_on_unavailable);
    assert_eq!(acme.channels[0], defaults.channels[0]);
    assert_eq!(acme.channels[2], defaults.channels[2]);
    assert_eq!(
        (&acme.styles, &acme.style_rules, &acme.unified_statuses),
        (&defaults.styles, &defaults.style_rules, &defaults.unified_statuses)
    );

    let beta = c.policy("beta");
    assert_eq!(beta.assignment_method, AssignmentMethod::SpareCapacity);
    assert_eq!(beta.channels[2].offer_timeout_ms, 45_000);
    assert_eq!(beta.channels[2].mode, AssignmentMode::Offer);

    // An unlisted account gets the defaults.
    assert_eq!(c.policy("gamma"), &c.defaults);
    assert_eq!(c.accounts.len(), 2);
}

#[test]
fn accounts_merge_over_the_files_own_top_level() {
    let c = ok(r#"
[routing]
assignment_method = "spare_percentage"
[channels.email]
skills_timeout_s = 120
[accounts.acme.channels.email]
mode = "offer"
"#);
    let acme = c.policy("acme");
    assert_eq!(acme.assignment_method, AssignmentMethod::SparePercentage);
    assert_eq!(acme.channels[0].skills_timeout_ms, 120_000);
    assert_eq!(acme.channels[0].mode, AssignmentMode::Offer);
}

#[test]
fn an_account_may_add_a_style_and_pick_it() {
    let c = ok(r#"
[accounts.acme]
default_style = "week"
[accounts.acme.styles.week]
close_after_solved_s = 604800
[accounts.acme.styles.live_chat_returning]
close_after_solved_s = 7200
[[accounts.acme.style_rules]]
via = "sms"
account = "acme"
style = "live_chat"
"#);
    let acme = c.policy("acme");
    assert_eq!(style_name(acme, acme.default_style), "week");
    assert_eq!(acme.styles[3].close_after_solved_ms, 7 * DAY_MS);
    assert_eq!(acme.styles[1].close_after_solved_ms, 7_200_000);
    assert_eq!(acme.style_rules.len(), 1);
    assert_eq!(style_name(acme, acme.style_for("acme", "messaging", "sms", false, None)), "live_chat");
    assert_eq!(style_name(acme, acme.style_for("acme", "messaging", "web_widget", false, None)), "week");
    // The account's style does not leak into the defaults.
    assert_eq!(c.defaults.styles.len(), 3);
    assert_eq!(c.defaults.styles[1].close_after_solved_ms, 3_600_000);
}

#[test]
fn top_level_styles_and_rules() {
    // Styles merge by name: changing one keeps the others, and the shipped rules keep working.
    let c = ok("[styles.social_messaging]\nclose_after_solved_s = 86400\n");
    assert_eq!(c.defaults.styles.len(), 3);
    assert_eq!(c.defaults.styles[2].close_after_solved_ms, DAY_MS);
    assert_eq!(c.defaults.style_rules, Config::default().defaults.style_rules);

    // Rules replace the list.
    let c = ok(r#"
[[style_rules]]
channel = "email"
brand = ["b1", "b2"]
style = "live_chat_returning"
"#);
    let p = &c.defaults;
    assert_eq!(p.style_rules.len(), 1);
    assert_eq!(p.style_rules[0].channel.as_deref(), Some(&["email".to_owned()][..]));
    assert_eq!(style_name(p, p.style_for("a", "email", "email", false, Some("b2"))), "live_chat_returning");
    assert_eq!(style_name(p, p.style_for("a", "messaging", "web_widget", false, None)), "social_messaging");

    let c = ok("style_rules = []\n");
    assert!(c.defaults.style_rules.is_empty());
}

#[test]
fn a_custom_unified_status_round_trips() {
    let c = ok(r#"
[unified_statuses]
in_meeting = { talk = "offline", messaging = "away", email = "transfers_only" }
away = { messaging = "away", email = "away", talk = "away" }

[accounts.acme.unified_statuses]
in_meeting = { messaging = "online", email = "online", talk = "offline" }
"#);
    let p = &c.defaults;
    let names: Vec<&str> = p.unified_statuses.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["online", "away", "transfers_only", "offline", "in_meeting"]);
    // Aligned with the channel order, whatever order the table was written in.
    assert_eq!(
        p.unified("in_meeting").unwrap().per_channel,
        [AgentStatus::Away, AgentStatus::TransfersOnly, AgentStatus::Offline]
    );
    assert_eq!(p.unified("away").unwrap().per_channel, [AgentStatus::Away; 3]);
    let acme = c.policy("acme");
    assert_eq!(
        acme.unified("in_meeting").unwrap().per_channel,
        [AgentStatus::Online, AgentStatus::Online, AgentStatus::Offline]
    );
    assert_eq!(acme.unified("away"), p.unified("away"));
}

#[test]
fn a_file_may_replace_the_channel_set() {
    let c = ok(r#"
[channels.email]
skills_timeout_s = 120
[channels.messaging]
[channels.chat]
mode = "auto"
"#);
    assert_eq!(c.channels.iter().map(|c| &**c).collect::<Vec<_>>(), ["email", "messaging", "chat"]);
    let p = &c.defaults;
    // Left-out keys take the shipped value of the same-named channel, or the generic one.
    assert_eq!(p.channels[0].mode, AssignmentMode::Auto);
    assert!(!p.channels[0].reassign_on_unavailable);
    assert_eq!(p.channels[0].skills_timeout_ms, 120_000);
    assert_eq!(p.channels[1], Config::default().defaults.channels[0]);
    assert_eq!(p.channels[2].mode, AssignmentMode::Auto);
    assert_eq!((p.channels[2].offer_timeout_ms, p.channels[2].skills_timeout_ms), (30_000, 60_000));
    assert!(p.channels[2].reassign_on_unavailable);
    // The shipped unified statuses are rebuilt for these channels.
    assert_eq!(
        p.unified("away").unwrap().per_channel,
        [AgentStatus::Online, AgentStatus::Away, AgentStatus::Away]
    );
    assert_eq!(p.unified("offline").unwrap().per_channel, [AgentStatus::Offline; 3]);

    // Two channels, and a unified status mapping exactly those.
    let c = ok(r#"
[channels.messaging]
[channels.email]
[unified_statuses]
busy = { messaging = "away", email = "online" }
"#);
    assert_eq!(c.channels.len(), 2);
    assert_eq!(c.defaults.unified("busy").unwrap().per_channel, [AgentStatus::Away, AgentStatus::Online]);
    refused(
        "[channels.messaging]\n[channels.email]\n[unified_statuses]\nbusy = { messaging = \"away\", email = \"online\", talk = \"away\" }\n",
        &["unified_statuses.busy.talk: unknown channel \"talk\" (known: messaging, email)"],
    );
    refused(
        "[channels.messaging]\n[accounts.acme.channels.talk]\nmode = \"auto\"\n",
        &["accounts.acme.channels.talk: unknown channel \"talk\""],
    );
}

#[test]
fn the_nats_section_is_read_whole() {
    let settings = accepted(
        r#"
[bus.nats]
enabled = true
servers = ["tls://nats-1:4222", "nats-2:4222"]
user = "router"
password_file = "/run/secrets/nats"
tls_required = true
tls_ca_file = "ca.pem"
tls_cert_file = "client.pem"
tls_key_file = "client.key"
events_stream = "EV"
events_subject = "in.*"
consumer = "router-1"
create = false
publish_effects = false
effects_stream = "FX"
effects_subject_prefix = "out"
dead_letter_stream = "DL"
dead_letter_subject = "dead"
max_in_flight = 65536
ack_wait_s = 3600
duplicate_window_s = 86400
"#,
    );
    assert_eq!(
        settings.bus.nats,
        NatsSettings {
            enabled: true,
            servers: vec!["tls://nats-1:4222".into(), "nats-2:4222".into()],
            auth: NatsAuth::UserPassword { user: "router".into(), password_file: "/run/secrets/nats".into() },
            tls: NatsTls {
                required: true,
                ca_file: Some("ca.pem".into()),
                client: Some(("client.pem".into(), "client.key".into())),
            },
            events_stream: "EV".into(),
            events_subject: "in.*".into(),
            consumer: "router-1".into(),
            create: false,
            publish_effects: false,
            effects_stream: "FX".into(),
            effects_subject_prefix: "out".into(),
            dead_letter_stream: "DL".into(),
            dead_letter_subject: "dead".into(),
            max_in_flight: 65536,
            ack_wait_ms: 3_600_000,
            duplicate_window_ms: 86_400_000,
        }
    );
    assert_eq!(
        accepted("[bus.nats]\ntoken_file = \"t\"\n").bus.nats.auth,
        NatsAuth::Token(PathBuf::from("t"))
    );
    assert_eq!(
        accepted("[bus.nats]\ncreds_file = \"c\"\n").bus.nats.auth,
        NatsAuth::Credentials(PathBuf::from("c"))
    );
}

#[test]
fn nats_refusals_name_the_key() {
    refused("[bus.nats]\nservers = []\n", &["bus.nats.servers: must list at least one server"]);
    refused("[bus.nats]\nservers = [\"nats://a:1\", \"http://b\"]\n", &["bus.nats.servers[1]:", "http://b"]);
    refused("[bus.nats]\nuser = \"u\"\n", &["bus.nats.password_file: is required with bus.nats.user"]);
    refused(
        "[bus.nats]\ntoken_file = \"t\"\ncreds_file = \"c\"\n",
        &["bus.nats: set one way of authenticating"],
    );
    refused("[bus.nats]\ntls_cert_file = \"c\"\n", &["bus.nats.tls_key_file: is required"]);
    refused("[bus.nats]\nevents_stream = \"a.b\"\n", &["bus.nats.events_stream:", "'.'"]);
    refused("[bus.nats]\nconsumer = \"\"\n", &["bus.nats.consumer: must not be empty"]);
    refused("[bus.nats]\nevents_subject = \"a.>.b\"\n", &["bus.nats.events_subject:", "last word"]);
    refused(
        "[bus.nats]\neffects_subject_prefix = \"fx.*\"\n",
        &["bus.nats.effects_subject_prefix:", "wildcards"],
    );
    refused(
        "[bus.nats]\neffects_subject_prefix = \"switchboard.events.fx\"\n",
        &["bus.nats.effects_subject_prefix:", "falls under bus.nats.events_subject"],
    );
    refused("[bus.nats]\nmax_in_flight = 0\n", &["bus.nats.max_in_flight: 0 is below the minimum 1"]);
    refused("[bus.nats]\nack_wait_s = 3601\n", &["bus.nats.ack_wait_s:", "1-hour"]);
    refused("[bus.nats]\nsurprise = 1\n", &["unknown key 'bus.nats.surprise'"]);
    refused("[bus]\nkafka = {}\n", &["unknown key 'bus.kafka'"]);
    // The window must cover the effects published again after a crash.
    refused(
        "[bus.nats]\nenabled = true\nduplicate_window_s = 60\n",
        &["bus.nats.duplicate_window_s: 60 s is shorter than storage.snapshot_every_s (300 s)"],
    );
    accepted("[bus.nats]\nenabled = true\nduplicate_window_s = 60\npublish_effects = false\n");
    accepted("[bus.nats]\nenabled = true\nduplicate_window_s = 60\n[storage]\nsnapshot_every_s = 60\n");
}
