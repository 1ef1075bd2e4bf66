//! The limits on what clients send.

use clap::Args;

use crate::session::validation::Limits;

#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Largest request body, in bytes.
    #[arg(long, env = "LIVECHAT_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,

    /// Longest prompt, in characters.
    #[arg(long, env = "LIVECHAT_MAX_PROMPT_CHARS", default_value_t = Limits::default().max_prompt_chars)]
    pub max_prompt_chars: usize,

    /// Most images in one message.
    #[arg(long, env = "LIVECHAT_MAX_IMAGES_PER_MESSAGE", default_value_t = Limits::default().max_images_per_message)]
    pub max_images_per_message: usize,

    /// Longest URL or storage path, in characters.
    #[arg(long, env = "LIVECHAT_MAX_URL_CHARS", default_value_t = Limits::default().max_url_chars)]
    pub max_url_chars: usize,

    /// Longest id, model, style or frameSize, in characters.
    #[arg(long, env = "LIVECHAT_MAX_FIELD_CHARS", default_value_t = Limits::default().max_field_chars)]
    pub max_field_chars: usize,

    /// Most images in one session (then appends get 409 session_full).
    #[arg(
        long,
        env = "LIVECHAT_MAX_IMAGES_PER_SESSION",
        default_value_t = Limits::default().max_images_per_session
    )]
    pub max_images_per_session: u32,

    /// A signal's `data`, in bytes of JSON (larger: 413, or `invalid_argument` on a socket).
    #[arg(long, env = "LIVECHAT_MAX_SIGNAL_BYTES", default_value_t = Limits::default().max_signal_bytes)]
    pub max_signal_bytes: usize,
}

impl From<&LimitArgs> for Limits {
    fn from(args: &LimitArgs) -> Self {
        Limits {
            max_body_bytes: args.max_body_bytes,
            max_prompt_chars: args.max_prompt_chars,
            max_images_per_message: args.max_images_per_message,
            max_url_chars: args.max_url_chars,
            max_field_chars: args.max_field_chars,
            max_images_per_session: args.max_images_per_session,
            max_signal_bytes: args.max_signal_bytes,
        }
    }
}
