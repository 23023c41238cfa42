//! `switchboard token`: API tokens for the daemon's tokens file (`[security] tokens_file`).
//!
//! `token new` draws 256 bits from the operating system's random number generator and prints the
//! token (`sbt_` and 43 base64url characters) on the first line of standard output, then, after a
//! blank line, the `[[token]]` entry to append to the tokens file. The entry holds the token's
//! SHA-256, never the token: the token is shown this once. `token hash` prints the SHA-256 of a
//! token read from standard input, for entries written by hand or for tokens made elsewhere.

use anyhow::{Context, Result, bail};
use base64::Engine;
use std::io::{Read, Write};
use std::process::ExitCode;
use switchboard_config::{Accounts, ConfigError, Role, TokenSpec};

/// `switchboard token`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Make a new API token: prints the token, then the [[token]] entry for the tokens file.
    ///
    /// The first line of the output is the token: give it to the client (`--token` or
    /// `SWITCHBOARD_TOKEN`, gRPC metadata `authorization: Bearer <token>`) and keep it secret; it is
    /// not shown again. After a blank line comes the entry to append to the tokens file, which holds
    /// the token's SHA-256 only. The daemon reads the file at start and on reload.
    New(NewArgs),
    /// Print the SHA-256 (hex) of the token on standard input: the `sha256` of its entry.
    Hash,
}

/// Arguments of `switchboard token new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// The token's name, shown in logs and messages: letters, digits, '-', '_', '.', '@', ':'.
    #[arg(long)]
    name: String,
    /// The accounts it may act on, comma-separated, or '*' for every account.
    #[arg(long, value_delimiter = ',', required = true, num_args = 1..)]
    accounts: Vec<String>,
    /// Its roles, comma-separated: ingest (Ingest, IngestStream), read (queries, WatchEffects),
    /// metrics (GET /metrics, with accounts '*'), admin (all of them).
    #[arg(
        long,
        value_delimiter = ',',
        required = true,
        num_args = 1..,
        value_parser = clap::builder::PossibleValuesParser::new(Role::ALL.map(Role::as_str)),
    )]
    roles: Vec<String>,
    /// When it stops working: a date-time with a UTC offset, e.g. 2027-01-01T00:00:00Z.
    #[arg(long, value_name = "DATE-TIME")]
    expires: Option<String>,
}

/// Runs `switchboard token ...`.
pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::New(args) => new(args),
        Command::Hash => hash(),
    }
}

/// A new token: `sbt_` and 256 random bits in base64url.
fn generate() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS random number generator failed: {e}"))?;
    Ok(format!("sbt_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

fn new(args: NewArgs) -> Result<ExitCode> {
    if let Some(e) = &args.expires
        && !e.chars().all(|c| c.is_ascii_digit() || "TZtz:+-. ".contains(c))
    {
        bail!("--expires: {e:?} is not a date-time with a UTC offset, e.g. 2027-01-01T00:00:00Z");
    }
    let token = generate()?;
    let accounts = if args.accounts.iter().any(|a| a == "*") && args.accounts.len() == 1 {
        Accounts::All
    } else {
        Accounts::Only(args.accounts.clone())
    };
    let spec = TokenSpec {
        name: args.name,
        sha256: switchboard_config::hash_token(&token),
        accounts,
        roles: Role::ALL.into_iter().filter(|r| args.roles.iter().any(|n| n == r.as_str())).collect(),
        expires_ms: None,
        expires: args.expires,
    };
    // The entry is checked as the daemon will read it; a refusal names the option at fault.
    let entry = spec.to_toml();
    match switchboard_config::parse_tokens(&entry, "the new token") {
        Ok(file) if file.tokens.len() == 1 => {}
        Ok(_) => bail!("the options do not make one [[token]] entry"),
        Err(ConfigError::Invalid { key, reason, .. }) => {
            let option = key.strip_prefix("token[0].").unwrap_or(&key);
            bail!("--{option}: {reason}");
        }
        Err(other) => bail!("{other}"),
    }
    let mut out = std::io::stdout().lock();
    write!(
        out,
        "{token}\n\n# Append to the tokens file ([security] tokens_file); it holds the token's SHA-256, \
         never the token.\n{entry}"
    )
    .and_then(|()| out.flush())
    .context("writing to standard output")?;
    eprintln!(
        "switchboard: the first line is the token {:?}; it is not shown again: hand it to its client and keep it secret",
        spec.name
    );
    Ok(ExitCode::SUCCESS)
}

fn hash() -> Result<ExitCode> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the token from standard input")?;
    let token = text.trim();
    if token.is_empty() {
        bail!("no token on standard input");
    }
    if token.contains(char::is_whitespace) {
        bail!("standard input holds more than one word: give one token");
    }
    println!("{}", switchboard_config::hex(&switchboard_config::hash_token(token)));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (super::generate().unwrap(), super::generate().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("sbt_") && a.len() == 4 + 43, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{a}");
    }
}
