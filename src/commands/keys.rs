//! `hotpush keys list|add|remove`: the trusted package-signing keys of the
//! running origin (`/api/v1/keys`), changed without a restart. Adding and
//! removing need an admin-group token; the origin audits both.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::client::{
    check, connect_error, http_client, read_token, runtime, server_url, urlencode,
};
use crate::core::api::{NewTrustedKey, TrustedKeysChange, TrustedKeysView};
use crate::logging::user_error;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the keys uploads are checked against now.
    List(KeysListArgs),
    /// Trust the public key(s) in FILE from now on (admin group).
    Add(KeysAddArgs),
    /// Stop trusting a key added with `keys add` (admin group).
    Remove(KeysRemoveArgs),
}

#[derive(Debug, Args)]
pub struct KeysListArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    /// Not needed to list (the keys are public); accepted for symmetry.
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct KeysAddArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// An ASCII-armored OpenPGP public key (`gpg --armor --export KEYID`).
    pub keyfile: PathBuf,
}

#[derive(Debug, Args)]
pub struct KeysRemoveArgs {
    #[arg(long, env = "HOTPUSH_SERVER")]
    pub server: String,
    #[arg(long, env = "HOTPUSH_TOKEN_FILE")]
    pub token_file: PathBuf,
    /// The key's fingerprint or its last 16 hex digits (`hotpush keys list`).
    pub fingerprint: String,
}

/// `hotpush keys`.
pub fn run(args: &KeysArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        KeysCommand::List(a) => list(a),
        KeysCommand::Add(a) => add(a),
        KeysCommand::Remove(a) => remove(a),
    }
}

fn list(args: &KeysListArgs) -> anyhow::Result<ExitCode> {
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let mut req = http_client()?.get(format!("{server}/api/v1/keys"));
        if let Some(token) = &token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| connect_error(&server, e))?;
        let text = check(resp, "cannot list the trusted keys")
            .await?
            .text()
            .await?;
        let out = if args.json {
            text
        } else {
            let view: TrustedKeysView = serde_json::from_str(&text)?;
            render(&view)
        };
        #[allow(clippy::print_stdout)]
        {
            println!("{}", out.trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn add(args: &KeysAddArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token_file)?;
    let fix = "pass the armored public key file (`gpg --armor --export KEYID > FILE`)";
    let armored = crate::io::keys::read_key_file(&args.keyfile, fix)?;
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let resp = http_client()?
            .post(format!("{server}/api/v1/keys"))
            .bearer_auth(&token)
            .json(&NewTrustedKey { armored })
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let what = format!("cannot trust the key in `{}`", args.keyfile.display());
        let change: TrustedKeysChange = check(resp, &what).await?.json().await?;
        for f in &change.changed {
            eprintln!("trusted from now on: {f}");
        }
        #[allow(clippy::print_stdout)]
        {
            println!("{}", render(&change.now).trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn remove(args: &KeysRemoveArgs) -> anyhow::Result<ExitCode> {
    let token = read_token(&args.token_file)?;
    if args.fingerprint.trim().is_empty() {
        return Err(user_error(
            "no key fingerprint given",
            "`hotpush keys list` shows the fingerprints",
        ));
    }
    runtime()?.block_on(async {
        let server = server_url(&args.server)?;
        let resp = http_client()?
            .delete(format!(
                "{server}/api/v1/keys/{}",
                urlencode(args.fingerprint.trim())
            ))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| connect_error(&server, e))?;
        let what = format!("cannot remove the trusted key `{}`", args.fingerprint);
        let change: TrustedKeysChange = check(resp, &what).await?.json().await?;
        for f in &change.changed {
            eprintln!("no longer trusted: {f}");
        }
        #[allow(clippy::print_stdout)]
        {
            println!("{}", render(&change.now).trim_end());
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn render(view: &TrustedKeysView) -> String {
    let mut out = String::new();
    if !view.signatures_required {
        out.push_str("signatures are NOT required (`require_signed_packages = false`)\n");
    }
    if view.keys.is_empty() {
        out.push_str("no trusted package keys: every signed upload is refused\n");
    }
    for k in &view.keys {
        out.push_str(&format!(
            "{}  {:<6}  {}\n",
            k.fingerprint,
            k.source,
            k.user_ids.join(", ")
        ));
    }
    out
}
