//! An MP4 track's edit list, which symphonia reads but does not apply: for AAC it is how the
//! encoder's priming (1024 frames from FFmpeg, 2112 from Apple's encoder) and the length of
//! the audio are signalled. FFmpeg, and so librosa, drops the priming; without that an AAC
//! track's samples sit 21-48 ms late, a fraction of a spectrogram hop at 48 kHz. Read with
//! Mozilla's `mp4parse`.
//!
//! [`EditedTrack`] applies the edit to a [`MonoDecoder`] the way `opus.rs` applies Opus's
//! pre-skip: MP4 timestamps count the priming, so the priming is dropped again after every
//! reset (a seek), and position `p` holds the `p`-th sample after the priming either way.

use std::io::Cursor;

use symphonia::core::packet::Packet;

use super::mono::{MonoDecoder, PacketError};

/// The edit of one track, in frames at the track's sample rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Edit {
    /// Frames at the start of the media that are not audio.
    pub priming: u64,
    /// Frames of audio after them, where the edit says: the track's length.
    pub frames: Option<u64>,
}

/// The edits of an MP4 file's tracks that skip anything, by track id; none for anything
/// else, an unreadable MP4 included (symphonia reports those). Only tracks whose time base is
/// their sample rate (every audio track FFmpeg or Apple writes) are read, so that packet
/// timestamps count frames.
pub(super) fn edits(bytes: &[u8]) -> Vec<(u32, u32, Edit)> {
    if bytes.get(4..8) != Some(b"ftyp") {
        return Vec::new();
    }
    let Ok(context) = mp4parse::read_mp4(&mut Cursor::new(bytes)) else { return Vec::new() };
    let mut found = Vec::new();
    for track in context.tracks.iter() {
        let (Some(id), Some(media_time), Some(scale)) = (track.track_id, track.media_time, track.timescale) else {
            continue;
        };
        if media_time.0 == 0 || scale.0 == 0 || scale.0 > u64::from(u32::MAX) {
            continue;
        }
        let frames = match (track.edited_duration, context.timescale) {
            (Some(d), Some(movie)) if d.0 > 0 && movie.0 > 0 => {
                u64::try_from(u128::from(d.0) * u128::from(scale.0) / u128::from(movie.0)).ok()
            }
            _ => None,
        };
        found.push((id, scale.0 as u32, Edit { priming: media_time.0, frames }));
    }
    found
}

/// The edit of track `track_id` at `rate` among `edits`.
pub(super) fn edit_of(edits: &[(u32, u32, Edit)], track_id: u32, rate: u32) -> Option<Edit> {
    edits.iter().find(|(id, scale, _)| *id == track_id && *scale == rate).map(|(_, _, edit)| *edit)
}

/// A decoder whose output starts after the priming. The end padding is kept, as FFmpeg keeps
/// it: it decodes to the tail of the last notes fading into the encoder's silence, and the
/// edit's length still places the span and checks for truncation.
pub(super) struct EditedTrack {
    inner: Box<dyn MonoDecoder>,
    edit: Edit,
    /// Output samples of priming still to drop.
    to_skip: u64,
}

impl EditedTrack {
    pub fn new(inner: Box<dyn MonoDecoder>, edit: Edit) -> Self {
        let to_skip = edit.priming / u64::from(inner.decimation());
        EditedTrack { inner, edit, to_skip }
    }
}

impl MonoDecoder for EditedTrack {
    fn decimation(&self) -> u32 {
        self.inner.decimation()
    }

    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(), PacketError> {
        self.inner.decode(packet, out)?;
        let skip = self.to_skip.min(out.len() as u64);
        out.drain(..skip as usize);
        self.to_skip -= skip;
        Ok(())
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.to_skip = self.edit.priming / u64::from(self.inner.decimation());
    }
}
