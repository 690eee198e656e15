//! Typed decode errors: every way an upload can be unusable has its own variant, so the
//! service can dead-letter it with a precise reason and keep serving.

/// Why an audio payload could not become a mono 22 050 Hz clip.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("empty payload: zero bytes of audio")]
    Empty,
    #[error("payload is {size} bytes, over the decode budget of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("unrecognised container: not a WAV, FLAC, MP3, Ogg, MP4/M4A, MKV, AIFF or CAF stream")]
    UnrecognizedFormat,
    #[error("the container holds no audio track")]
    NoAudioTrack,
    #[error("unsupported codec: {codec}")]
    UnsupportedCodec { codec: String },
    #[error("sample rate {rate} Hz is outside the accepted {min}..={max} Hz")]
    SampleRate { rate: u64, min: u32, max: u32 },
    #[error("channel count {channels} is outside the accepted 1..={max}")]
    ChannelCount { channels: u64, max: u32 },
    #[error("declared duration of {declared_s:.0} s exceeds the decode budget of {limit_s:.0} s")]
    TooLong { declared_s: f64, limit_s: f64 },
    #[error("truncated stream: {detail}")]
    Truncated { detail: String },
    #[error("corrupt stream: {detail}")]
    Corrupt { detail: String },
    #[error("the stream decoded to no audio samples")]
    NoAudio,
    #[error("decoding ran past its time budget of {limit_ms} ms")]
    Timeout { limit_ms: u64 },
    #[error("resampling {from} Hz to {to} Hz failed: {detail}")]
    Resample { from: u32, to: u32, detail: String },
}

impl DecodeError {
    /// Whether a cut upload can cause this: a container unreadable without its end, no track
    /// or audio found, undecodable packets. Refusals by policy (sizes, rates, channels,
    /// codecs, time) are not: they stand even when the upload was also cut.
    pub fn may_be_a_cut(&self) -> bool {
        matches!(
            self,
            Self::UnrecognizedFormat
                | Self::NoAudioTrack
                | Self::Truncated { .. }
                | Self::Corrupt { .. }
                | Self::NoAudio
        )
    }

    /// A short, stable machine-readable name (used in dead-letter headers and metrics labels).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too-large",
            Self::UnrecognizedFormat => "unrecognized-format",
            Self::NoAudioTrack => "no-audio-track",
            Self::UnsupportedCodec { .. } => "unsupported-codec",
            Self::SampleRate { .. } => "sample-rate",
            Self::ChannelCount { .. } => "channel-count",
            Self::TooLong { .. } => "too-long",
            Self::Truncated { .. } => "truncated",
            Self::Corrupt { .. } => "corrupt",
            Self::NoAudio => "no-audio",
            Self::Timeout { .. } => "timeout",
            Self::Resample { .. } => "resample",
        }
    }
}
