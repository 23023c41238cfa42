//! Connecting to NATS, and making sure the streams and the consumer exist.

use crate::BusError;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::stream::{self, StorageType};
use std::time::Duration;
use switchboard_config::{NatsAuth, NatsSettings};

/// The client's connect options for `settings`. Secrets are read here, so an unreadable file fails
/// the start with its path named. The client reconnects by itself, forever, with growing delays.
pub(crate) async fn options(settings: &NatsSettings) -> Result<async_nats::ConnectOptions, BusError> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| BusError::Config(format!("cannot read {}: {e}", path.display())))
    };
    let mut options = async_nats::ConnectOptions::new()
        .name("switchboard")
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(5));
    options = match &settings.auth {
        NatsAuth::None => options,
        NatsAuth::Token(path) => options.token(read(path)?),
        NatsAuth::UserPassword { user, password_file } => {
            options.user_and_password(user.clone(), read(password_file)?)
        }
        NatsAuth::Credentials(path) => options
            .credentials_file(path)
            .await
            .map_err(|e| BusError::Config(format!("cannot read {}: {e}", path.display())))?,
    };
    if settings.tls.required {
        options = options.require_tls(true);
    }
    if let Some(ca) = &settings.tls.ca_file {
        readable(ca)?;
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &settings.tls.client {
        readable(cert)?;
        readable(key)?;
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    Ok(options)
}

/// TLS files are read by the client when it connects, in the background; checking them here puts
/// a missing file in the start's error rather than in a reconnect loop's log.
fn readable(path: &std::path::Path) -> Result<(), BusError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| BusError::Config(format!("cannot read {}: {e}", path.display())))
}

/// The consumer the daemon reads events with: creates the streams and the consumer when
/// `settings.create` allows it, otherwise expects them.
pub(crate) async fn consumer(
    js: &jetstream::Context,
    settings: &NatsSettings,
) -> Result<(jetstream::stream::Stream, jetstream::consumer::Consumer<pull::Config>), String> {
    let window = Duration::from_millis(settings.duplicate_window_ms);
    let stream_config = |name: &str, subject: String| stream::Config {
        name: name.to_owned(),
        subjects: vec![subject],
        storage: StorageType::File,
        duplicate_window: window,
        ..Default::default()
    };
    let events = if settings.create {
        if settings.publish_effects {
            let subject = format!("{}.>", settings.effects_subject_prefix);
            js.get_or_create_stream(stream_config(&settings.effects_stream, subject))
                .await
                .map_err(|e| format!("stream {}: {e}", settings.effects_stream))?;
        }
        let subject = format!("{}.>", settings.dead_letter_subject);
        js.get_or_create_stream(stream_config(&settings.dead_letter_stream, subject))
            .await
            .map_err(|e| format!("stream {}: {e}", settings.dead_letter_stream))?;
        js.get_or_create_stream(stream_config(&settings.events_stream, settings.events_subject.clone()))
            .await
            .map_err(|e| format!("stream {}: {e}", settings.events_stream))?
    } else {
        js.get_stream(&settings.events_stream)
            .await
            .map_err(|e| format!("stream {}: {e}", settings.events_stream))?
    };
    let config = pull::Config {
        durable_name: Some(settings.consumer.clone()),
        filter_subject: settings.events_subject.clone(),
        ack_policy: AckPolicy::Explicit,
        deliver_policy: DeliverPolicy::All,
        ack_wait: Duration::from_millis(settings.ack_wait_ms),
        max_ack_pending: settings.max_in_flight as i64,
        max_deliver: -1,
        ..Default::default()
    };
    let failed = |e: &dyn std::fmt::Display| format!("consumer {}: {e}", settings.consumer);
    let consumer = if settings.create {
        events.get_or_create_consumer(&settings.consumer, config).await.map_err(|e| failed(&e))?
    } else {
        events.get_consumer(&settings.consumer).await.map_err(|e| failed(&e))?
    };
    // Messages are applied in stream sequence order (see `ingest.rs`), which needs every message
    // of the stream to be an event for this consumer.
    let subjects = &events.cached_info().config.subjects;
    if subjects != std::slice::from_ref(&settings.events_subject) {
        tracing::warn!(
            stream = %settings.events_stream,
            ?subjects,
            filter = %settings.events_subject,
            "NATS: the events stream holds other subjects than the events; ingestion will wait at each of their messages"
        );
    }
    Ok((events, consumer))
}
