//! AAC-LC at 44.1 and 48 kHz: the analysis decoder of `vendor/aac-analysis` (a fork of
//! symphonia's), which averages the channels' spectra and runs one half-size inverse MDCT
//! per frame, so it synthesises the mono mix straight at half the stream's rate (22 050 or
//! 24 000 Hz) instead of decoding both channels at the full rate, downmixing and decimating.
//! Within 0.1 dB of symphonia + downmix + halfband in the log-mel bands the analysis compares
//! (see the tests).
//!
//! Like symphonia's AAC decoder it applies no container trims (MP4 edit lists): the two
//! paths give the same samples, half as many. Its half-rate samples sit half a source sample
//! later than the halfband decimator's, an 11 us shift no spectrogram frame notices.
//! [`decode_symphonia`](super::decode::decode_symphonia) keeps the container, the span, the
//! budgets and the error classification; the fork's errors are symphonia's decoder's.

use aac_analysis::AnalysisDecoder;
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::packet::Packet;

use super::DecodeBudget;
use super::mono::{MonoDecoder, PacketError};

/// Stream rates it takes: their halves are the analysis rate or one rubato converts from.
const RATES: [u32; 2] = [44_100, 48_000];

/// The analysis decoder for an AAC track it can take; `None` leaves the track to symphonia
/// (other rates, what symphonia's decoder refuses too, more channels than the budget allows:
/// symphonia then names the error as before).
pub(super) fn make(params: &AudioCodecParameters, budget: &DecodeBudget) -> Option<Box<dyn MonoDecoder>> {
    let decoder = AnalysisDecoder::try_new(params).ok()?;
    if !RATES.contains(&decoder.sample_rate())
        || params.sample_rate.is_some_and(|r| r != decoder.sample_rate())
        || decoder.channels() as u64 > u64::from(budget.max_channels)
    {
        return None;
    }
    Some(Box::new(AacMono { decoder }))
}

struct AacMono {
    decoder: AnalysisDecoder,
}

impl MonoDecoder for AacMono {
    fn decimation(&self) -> u32 {
        2
    }

    fn decode(&mut self, packet: &Packet, out: &mut Vec<f32>) -> Result<(), PacketError> {
        out.clear();
        // The fork's errors are symphonia's, raised where its decoder raises them, so
        // `decode_symphonia` classifies them as before.
        self.decoder.decode(&packet.data, out).map_err(PacketError::Symphonia)
    }

    fn reset(&mut self) {
        self.decoder.reset();
    }
}

#[cfg(test)]
mod tests;
